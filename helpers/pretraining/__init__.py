"""The pre-training engine behind the two scripts: scripts/pretrain.py and scripts/pretrain_kit_bert.py.

  config.py     PretrainConfig: every setting of a run, checked, and the command line made from it
  preflight.py  every check before anything loads: options, the model (and its defaults), the launch, the text
  prepare.py    a text of any size prepared once on disk: token ids, NSP pairs or MLM-only windows, a cache
  batches.py    length buckets, a token budget, shards for processes, seeds derived in one way
  plan.py       the budget (epochs, steps or real tokens) made into exact steps; each epoch's and held-out batches
  files.py      staging-then-rename writes, strict JSON lines, a file's SHA-256
  lock.py       one run per output folder
  run.py        checkpoints with the fingerprint of their settings, where to resume, log.jsonl, the saved model
  loop.py       pretrain(config): the one training loop (Accelerate), held-out scores before and after

The lessons keep their own short, written-out loop (helpers.training): nothing in the lesson helpers imports from
here, while the engine reuses their pieces (masking, collators, losses, evaluation).
"""

from .config import ConfigError, PretrainConfig, build_parser, config_from
from .loop import DryRun, Finished, pretrain
from .run import RunError

__all__ = ["ConfigError", "DryRun", "Finished", "PretrainConfig", "RunError", "build_parser", "config_from", "pretrain"]
