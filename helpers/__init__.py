"""The finished, tested versions of what the kit's notebooks teach, imported by later notebooks.

The subpackage helpers.pretraining is the engine of the two scripts (pre-training at scale: data on disk, buckets,
processes, checkpoints); it builds on these modules, and nothing here imports from it.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
MEDITATIONS = DATA_DIR / "meditations.txt"
