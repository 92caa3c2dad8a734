"""The pre-training engine behind the two scripts: scripts/pretrain.py and scripts/pretrain_kit_bert.py.

  config.py   PretrainConfig: every setting of a run, checked, and the command line made from it
  prepare.py  a text of any size prepared once on disk: token ids, NSP pairs or MLM-only windows, a cache
  batches.py  length buckets, a token budget, shards for processes, seeds derived in one way
  run.py      the output folder: lock, checkpoints with the fingerprint of their settings, log.jsonl
  loop.py     pretrain(config): the one training loop (Accelerate), exact resume, held-out scores, the saved model

The lessons keep their own short, written-out loop (helpers.training): nothing in the lesson helpers imports from
here, while the engine reuses their pieces (masking, collators, losses, evaluation).
"""

from .config import ConfigError, PretrainConfig, build_parser, config_from
from .loop import Finished, pretrain
from .run import RunError

__all__ = ["ConfigError", "Finished", "PretrainConfig", "RunError", "build_parser", "config_from", "pretrain"]
