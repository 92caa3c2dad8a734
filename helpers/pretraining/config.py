"""What a pre-training run is asked to do: one dataclass that checks its own values and makes the command line.

Each field is one option of scripts/pretrain.py (`batch_size` is `--batch-size`), with its help text beside it, so
the option, its default, its check and its documentation are written once. transformers' HfArgumentParser builds a
parser from a dataclass too, but it lists every option twice (`--batch_size, --batch-size`) and flags as `--cpu
[CPU]`; the dozen lines of `build_parser` give learners the plain `--help` they expect.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .batches import PAD_MULTIPLE, bucket_length

MIN_LENGTH = 8
OBJECTIVES = ("mlm+nsp", "mlm")  # NSP pairs with MLM on them, or MLM-only contiguous windows
PRECISIONS = ("auto", "no", "fp16", "bf16")


class ConfigError(ValueError):
    """A setting that cannot work; the message names the option as it is typed (--batch-size) and the value."""


def option(default=dataclasses.MISSING, *, help: str, choices: tuple | None = None, metavar: str | None = None):
    """Return a dataclass field that is also a command-line option with this help text."""
    return field(default=default, metadata={"help": help, "choices": choices, "metavar": metavar})


@dataclass
class PretrainConfig:
    """The settings of one pre-training run (see `python scripts/pretrain.py --help` for each)."""

    text: Path = option(help="UTF-8 text file: one paragraph per line, or paragraphs separated by blank lines")
    output: Path = option(help="folder for checkpoints, log.jsonl and model/")
    model: str | None = option(None, help="Hub name or local folder to start from (default: the kit's run mode, "
                                          "see README)")
    objective: str = option("mlm+nsp", choices=OBJECTIVES,
                            help="mlm+nsp: BERT's two games, on sentence pairs (default); mlm: masked words only, on "
                                 "contiguous windows of the text (RoBERTa and later recipes)")
    epochs: int = option(3, help="passes over the training examples (default 3; see --max-steps and --tokens)")
    max_steps: int | None = option(None, metavar="N", help="instead of --epochs: train N optimizer steps, as many "
                                                           "passes as they need (the schedule is planned on N)")
    tokens: int | None = option(None, metavar="N",
                                help="instead of --epochs: train until N real tokens (padding not counted) are read: "
                                     "the budget to give a control run that must match another run")
    batch_size: int = option(16, help="examples per batch on each process (default 16)")
    tokens_per_batch: int | None = option(None, metavar="N",
                                          help="instead of --batch-size: as many examples per batch as fit in N padded "
                                               "tokens (short examples make big batches; try 16384 on a GPU)")
    gradient_accumulation: int = option(1, metavar="K", help="add up the gradients of K batches before each "
                                                             "optimizer step (default 1)")
    lr: float | None = option(None, help="peak learning rate of AdamW (default: half the peak the model was "
                                         "pre-trained with where its card.json says it, else 5e-5)")
    warmup_fraction: float = option(0.1, help="share of the steps warming up (default 0.1)")
    max_length: int | None = option(None, help=f"tokens per example, special tokens included ({MIN_LENGTH} to the "
                                               "model's maximum; default: the length the model was pre-trained at "
                                               "where its card.json says it, e.g. 128 for the kit's model, else 512)")
    short_length: int | None = option(None, metavar="L",
                                      help="first train on examples of at most L tokens, as many tokens per batch "
                                           "(BERT's recipe: 128, then 512); with --short-epochs")
    short_epochs: int = option(0, help="passes over the short examples before the --epochs passes (default 0)")
    mask_rate: float = option(0.15, help="share of the tokens masked for MLM (default 0.15)")
    held_out_fraction: float = option(0.1, help="share of the paragraphs kept aside for evaluation (default 0.1)")
    cache_dir: Path | None = option(None, help="where prepared text is kept and reused (default: $KIT_DATA_CACHE, "
                                               "else ~/.cache/bert-pretraining-kit/prepared)")
    mixed_precision: str = option("auto", choices=PRECISIONS,
                                  help="auto (default): bf16 where the GPU computes it natively, fp16 with a loss "
                                       "scaler on older GPUs, none on the CPU; this, not `accelerate config`, decides")
    cpu: bool = option(False, help="train on the CPU even where there is a GPU")
    workers: int = option(0, help="background processes that prepare batches (default 0; 2 to 4 keep a GPU busy)")
    compile: bool = option(False, help="compile the encoder with torch.compile (faster on a GPU after a slow "
                                       "first minute)")
    log_every: int = option(10, metavar="N", help="write the mean losses of the last N steps to log.jsonl "
                                                  "(default 10)")
    checkpoint_every: int = option(0, metavar="N", help="also save a checkpoint every N optimizer steps (default 0: "
                                                        "at the end of each epoch)")
    resume: bool = option(False, help="continue from the newest checkpoint in --output")
    seed: int = option(0, help="seed of the split, the pairs, masks, batches and dropout (default 0)")
    dry_run: bool = option(False, help="check the arguments and the text, print the plan, stop before the model "
                                       "loads")

    def check(self) -> None:
        """Raise ConfigError naming the first option whose value cannot work."""
        at_least = {"batch_size": 1, "gradient_accumulation": 1, "epochs": 1, "tokens_per_batch": 1, "workers": 0,
                    "log_every": 1, "checkpoint_every": 0, "max_length": MIN_LENGTH, "short_epochs": 0,
                    "short_length": MIN_LENGTH, "max_steps": 1, "tokens": 1}
        for name, low in at_least.items():
            value = getattr(self, name)
            if value is not None and value < low:
                raise ConfigError(f"{flag(name)} must be at least {low}, got {value}")
        within = {"mask_rate": (0, 1, "(0, 1]"), "held_out_fraction": (0, 1, "(0, 1)"),
                  "warmup_fraction": (0, 1, "[0, 1)")}
        for name, (low, high, shown) in within.items():
            value = getattr(self, name)
            fits = ((low < value if shown[0] == "(" else low <= value) and
                    (value <= high if shown[-1] == "]" else value < high))
            if not fits:
                raise ConfigError(f"{flag(name)} must be in {shown}, got {value}")
        if self.max_steps is not None and self.tokens is not None:
            raise ConfigError(f"--max-steps and --tokens are two budgets: give one, got {self.max_steps} and "
                              f"{self.tokens}")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr must be a positive number, got {self.lr}")
        if self.max_length is None:
            return  # the rest is checked once the model's length is known (preflight)
        if self.short_epochs and not (self.short_length and self.short_length < self.max_length):
            raise ConfigError(f"--short-length must be below --max-length ({self.max_length}) for --short-epochs, "
                              f"got {self.short_length}")
        smallest = bucket_length(self.max_length, PAD_MULTIPLE)
        if self.tokens_per_batch is not None and self.tokens_per_batch < smallest:
            raise ConfigError(f"--tokens-per-batch must hold one example of --max-length {self.max_length} padded "
                              f"to {smallest} tokens, got {self.tokens_per_batch}")


    @property
    def with_nsp(self) -> bool:
        """True if the run trains NSP too (sentence pairs), False for MLM only (windows)."""
        return with_nsp(self.objective)


def with_nsp(objective: str) -> bool:
    """Return True if `objective` trains NSP too, on sentence pairs; False for MLM only, on windows."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    return objective == "mlm+nsp"


def flag(name: str) -> str:
    """Return the command-line spelling of a field: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def _plain_type(hint) -> type:
    """Return the type an option's text is converted to: int for `int | None`."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return next(t for t in typing.get_args(hint) if t is not type(None))
    return hint


def build_parser(prog: str, description: str, epilog: str, omit: tuple[str, ...] = (),
                 **defaults) -> argparse.ArgumentParser:
    """Return a parser with an option per PretrainConfig field but those in `omit`; `defaults`: a recipe's own."""
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    hints = typing.get_type_hints(PretrainConfig)
    for f in (f for f in dataclasses.fields(PretrainConfig) if f.name not in omit):
        default = defaults.get(f.name, f.default)
        kind, meta = _plain_type(hints[f.name]), f.metadata
        if kind is bool:
            parser.add_argument(flag(f.name), action="store_true", default=default, help=meta["help"])
            continue
        parser.add_argument(flag(f.name), type=kind, default=None if default is dataclasses.MISSING else default,
                            required=default is dataclasses.MISSING, choices=meta["choices"], metavar=meta["metavar"],
                            help=meta["help"])
    return parser


def config_from(args: argparse.Namespace, **values) -> PretrainConfig:
    """Return the PretrainConfig of parsed arguments and `values`; a field with no option keeps its default."""
    return PretrainConfig(**{f.name: values[f.name] if f.name in values else getattr(args, f.name, f.default)
                             for f in dataclasses.fields(PretrainConfig)})
