"""Everything a run checks before anything heavy starts, gathered in one place: `preflight(config)`.

The options (ConfigError names the option), the model (its name, its length, the settings it was trained with),
the launch (processes and GPUs) and the text (readable UTF-8, hashed once for the cache and the checkpoints).
A mistake gets its one-line answer here, before the tokenizer, the text's preparation or the model.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import NamedTuple

import torch
from transformers import AutoConfig

from ..corpus import CorpusError, check_text_file
from ..models import model_folder_problem, model_source
from .batches import PAD_MULTIPLE, bucket_length
from .config import ConfigError, PretrainConfig
from .files import file_sha256
from .run import RunError

FALLBACK = {"max_length": 512, "lr": 5e-5}  # for a model whose card does not say: BERT's length, a gentle rate


class Preflight(NamedTuple):
    """A checked run: its config with the model's defaults filled in, the model to load, the text's hash."""

    config: PretrainConfig
    source: str  # what from_pretrained gets: a Hub name or a folder
    text_sha256: str
    notes: list[str]  # the defaults chosen for the model, and why, to print


def preflight(config: PretrainConfig) -> Preflight:
    """Return the checked run, or raise ConfigError (an option) or RunError (the model, the launch, the text)."""
    config.check()
    source, offline = model_source(config.model)  # the run mode's model when --model is not given
    if problem := model_folder_problem(source):
        raise RunError(f"--model {problem}")
    try:
        model_config = AutoConfig.from_pretrained(source, local_files_only=offline)
    except (OSError, ValueError) as exc:
        raise RunError(f"--model {source}: cannot read its configuration ({str(exc).splitlines()[0]})") from None
    config, notes = with_model_defaults(config, source, model_config.max_position_embeddings)
    config.check()
    check_length(config, source, model_config.max_position_embeddings)
    check_launch(config)
    return Preflight(config, source, checked_text_sha256(config.text), notes)


def trained_with(source: str) -> dict:
    """Return the settings the model's card.json says it was pre-trained with ({} without a card).

    The kit writes a card beside every model it trains (data/kit_bert and each run's model/): its length and
    peak learning rate are what continued pre-training should start from.
    """
    card = Path(source) / "card.json"
    if not card.is_file():
        return {}
    training = json.loads(card.read_text(encoding="utf-8")).get("training", {})
    return {k: training[k] for k in ("max_length", "lr") if k in training}


def with_model_defaults(config: PretrainConfig, source: str, positions: int) -> tuple[PretrainConfig, list[str]]:
    """Return the config with --max-length and --lr chosen for the model where they were not given, and notes.

    The length the model was pre-trained at: a model trained on 128-token examples has never seen position 300.
    Half its pre-training peak rate: enough to move it on a new text in a few hundred steps without undoing it
    (bert-base's 1e-4 gives the usual 5e-5 for continued pre-training).
    """
    card, chosen, notes = trained_with(source), {}, []
    if config.max_length is None:
        length = card.get("max_length", min(FALLBACK["max_length"], positions))
        chosen["max_length"] = length
        notes.append(f"--max-length {length}: " + ("the length it was pre-trained at (its card.json)" if
                                                    "max_length" in card else "BERT's length"))
    if config.lr is None:
        lr = card["lr"] / 2 if "lr" in card else FALLBACK["lr"]
        chosen["lr"] = lr
        notes.append(f"--lr {lr:g}: " + (f"half the peak it was pre-trained with ({card['lr']:g}, its card.json)"
                                         if "lr" in card else "the usual rate for continued pre-training of BERT"))
    if notes:
        notes = [f"settings for {source}: " + "; ".join(notes) + " (give the option to change it)"]
    return dataclasses.replace(config, **chosen), notes


def check_length(config: PretrainConfig, source: str, positions: int) -> None:
    """Raise ConfigError if --max-length exceeds the model's position embeddings, padded or not."""
    padded = bucket_length(config.max_length, PAD_MULTIPLE)
    if config.max_length > positions:
        raise ConfigError(f"--max-length must be at most {positions} for {source} (its max_position_embeddings), "
                          f"got {config.max_length}")
    if padded > positions:
        raise ConfigError(f"--max-length {config.max_length} pads to {padded}, more than {source} holds "
                          f"({positions}): use a multiple of {PAD_MULTIPLE}")


def check_launch(config: PretrainConfig) -> None:
    """Raise RunError if `accelerate launch` started more processes on this machine than it has GPUs for."""
    local, gpus = int(os.environ.get("LOCAL_WORLD_SIZE", "1")), torch.cuda.device_count()
    if local > 1 and not config.cpu and gpus < local:
        raise RunError(f"launched with {local} processes on this machine, which has {gpus} GPU(s): launch at most "
                       f"{gpus} (--num_processes), or add --cpu to train with CPU processes.")


def checked_text_sha256(path: Path) -> str:
    """Return the text file's SHA-256 (the only time a run reads it whole to hash it), or raise RunError."""
    try:
        check_text_file(path)  # the lessons' messages: no such file, a folder, empty, UTF-16, binary
        return file_sha256(path)
    except (OSError, CorpusError) as exc:
        raise RunError(f"--text {exc}" if isinstance(exc, CorpusError) or exc.filename is None else
                       f"--text {path}: {exc.strerror or exc}") from None
