"""The finished, tested versions of what the kit's notebooks teach, imported by later notebooks."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
MEDITATIONS = DATA_DIR / "meditations.txt"
