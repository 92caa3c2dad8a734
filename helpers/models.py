"""Load a BERT tokenizer and model head: bert-base-uncased or KIT_MODEL (full mode), or the kit's small BERT (quick
mode)."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoTokenizer,
    BertForMaskedLM,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertTokenizerFast,
)
from transformers.utils import logging as hf_logging

from . import DATA_DIR, REPO_ROOT

HEADS = {"mlm": BertForMaskedLM, "nsp": BertForNextSentencePrediction, "pretraining": BertForPreTraining}
DEFAULT_MODEL = "bert-base-uncased"
HUB_PROBE_SECONDS = 3.0
# Quick mode's model: a small BERT the kit pre-trained on Jane Austen (never on Meditations) with
# scripts/pretrain_kit_bert.py; data/kit_bert/card.json is its model card.
KIT_BERT = DATA_DIR / "kit_bert"
# A class sets the mode once for every learner: a file named KIT_QUICK in the kit's folder, holding 1 (quick) or 0
# (full), read when the environment variable is not set (TEACHING.md, room set-up).
CLASS_SETTING = REPO_ROOT / "KIT_QUICK"
# Measured with a bert-base-sized model (benchmarks/full_mode_memory.py; TEACHING.md, room set-up): why a machine
# without a GPU runs quick mode unless asked for full mode.
CPU_FULL_MODE_NOTE = "full mode on a CPU takes several minutes a lesson and 3 to 5 GiB of memory"


@dataclass(frozen=True)
class RunMode:
    """Which mode the kit runs in, which model it loads (a Hub name or a folder) and why."""

    quick: bool
    reason: str
    model: str = str(KIT_BERT)
    offline: bool = False  # load from the Hugging Face cache only, never ask the Hub

    @property
    def name(self) -> str:
        return "quick" if self.quick else "full"

    def banner(self) -> str:
        """Return the one line that tells the learner which model is used and why."""
        if self.quick:
            return f"QUICK mode: the kit's small BERT (data/kit_bert, pre-trained on Jane Austen) ({self.reason})."
        where = "a local folder" if Path(self.model).is_dir() else (
            "your Hugging Face cache" if self.offline else "the Hugging Face Hub")
        return f"FULL mode: {self.model} from {where} ({self.reason})."


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def quick_setting() -> tuple[bool | None, str]:
    """Return (True: quick, False: full, None: not set) from KIT_QUICK, else the class's KIT_QUICK file, and where."""
    value, where = os.environ.get("KIT_QUICK", "").strip(), "KIT_QUICK={} is set"
    if not value and CLASS_SETTING.is_file():
        value, where = CLASS_SETTING.read_text(encoding="utf-8").strip(), "the class's KIT_QUICK file holds {}"
    if not value:
        return None, ""
    if value.lower() in {"1", "true", "yes", "on"}:
        return True, where.format(value)
    if value.lower() in {"0", "false", "no", "off"}:
        return False, where.format(value)
    raise ValueError(f"KIT_QUICK must be 1 (quick mode) or 0 (full mode), got {value!r} "
                     f"({'the file ' + str(CLASS_SETTING) if where.startswith('the') else 'the environment variable'})")


def gpu_available() -> bool:
    """Return True if PyTorch sees a CUDA GPU."""
    return torch.cuda.is_available()


def hub_reachable(timeout: float = HUB_PROBE_SECONDS, name: str = DEFAULT_MODEL) -> bool:
    """Return True if the Hugging Face Hub answers an HTTP request within `timeout` seconds."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    answered = threading.Event()

    def probe() -> None:
        try:
            request = urllib.request.Request(f"{endpoint}/api/models/{name}", method="HEAD")
            urllib.request.urlopen(request, timeout=timeout)
            answered.set()
        except urllib.error.HTTPError:
            answered.set()  # any HTTP answer means the Hub is there
        except (OSError, ValueError):
            pass

    # A thread bounds the wait: name resolution itself has no timeout on some networks.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return answered.is_set()


def in_hf_cache(name: str) -> bool:
    """Return True if the Hugging Face cache holds `name`'s config and weights (downloaded before, e.g. for a class)."""
    from huggingface_hub import try_to_load_from_cache

    has = lambda filename: isinstance(try_to_load_from_cache(name, filename), str)  # noqa: E731
    return has("config.json") and (has("model.safetensors") or has("pytorch_model.bin"))


@functools.cache
def run_mode() -> RunMode:
    """Return the run mode, decided once per process (see README: KIT_QUICK, KIT_MODEL, HF_HUB_OFFLINE)."""
    quick, why = quick_setting()
    if quick:
        return RunMode(True, why)
    chosen = os.environ.get("KIT_MODEL", "").strip()
    name = chosen or DEFAULT_MODEL
    if Path(name).is_dir():
        return RunMode(False, "KIT_MODEL names this folder", name)
    if quick is None and not chosen and not gpu_available():
        return RunMode(True, f"no GPU: {CPU_FULL_MODE_NOTE}; set KIT_QUICK=0 for it")
    if _env_flag("HF_HUB_OFFLINE"):
        if in_hf_cache(name):
            return RunMode(False, "HF_HUB_OFFLINE=1 and the model is in the cache", name, offline=True)
        return RunMode(True, f"HF_HUB_OFFLINE=1 is set and {name} is not in the Hugging Face cache")
    if hub_reachable(name=name):
        return RunMode(False, "the Hub is reachable; set KIT_QUICK=1 for the small model", name)
    if in_hf_cache(name):
        return RunMode(False, f"the Hub did not answer within {HUB_PROBE_SECONDS:.0f} s; using the cached copy",
                       name, offline=True)
    return RunMode(True, f"the Hugging Face Hub did not answer within {HUB_PROBE_SECONDS:.0f} s and {name} is "
                         "not in the cache")


_announced: set[RunMode] = set()


def announce_mode() -> RunMode:
    """Print the run mode's one-line banner, the first time only, and return the mode."""
    mode = run_mode()
    if mode not in _announced:
        print(mode.banner())
        _announced.add(mode)
    return mode


def train_wordpiece_tokenizer(corpus: Path, vocab_size: int = 8000) -> BertTokenizerFast:
    """Return a lower-casing WordPiece tokenizer with BERT's special tokens, trained on a text file."""
    from tokenizers import BertWordPieceTokenizer

    trainer = BertWordPieceTokenizer(lowercase=True)
    trainer.train([str(corpus)], vocab_size=vocab_size, min_frequency=2, show_progress=False,
                  special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    with tempfile.TemporaryDirectory() as folder:
        trainer.save_model(folder)  # writes vocab.txt
        return BertTokenizerFast.from_pretrained(folder)


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' progress bars and load report inside the block (restored after)."""
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def model_source(name: str | None) -> tuple[str, bool]:
    """Return (what to pass to from_pretrained, cache only?): `name` if given, else the run mode's model."""
    if name is not None:
        return str(name), _env_flag("HF_HUB_OFFLINE")
    mode = run_mode()
    return mode.model, mode.offline


def load_tokenizer(name: str | None = None):
    """Return the tokenizer of `name` (a Hub name or a folder), or of the run mode's model."""
    source, offline = model_source(name)
    with quiet_transformers():
        return AutoTokenizer.from_pretrained(source, local_files_only=offline)


def load_model(task: str, name: str | None = None, *, verbose: bool = True):
    """Return (tokenizer, model) with the BERT head for `task` ('mlm', 'nsp' or 'pretraining'), in float32."""
    if task not in HEADS:
        raise ValueError(f"task must be one of {sorted(HEADS)}, got {task!r}")
    if verbose and name is None:
        announce_mode()
    source, offline = model_source(name)
    # The checkpoints hold both heads (MLM and NSP): the report that the unused one was skipped is expected.
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline)
        # float32 whatever the files hold: the kit's small BERT is stored in float16 to stay small.
        model = HEADS[task].from_pretrained(source, local_files_only=offline, dtype=torch.float32)
    return tokenizer, model


def from_scratch(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Return a model of the same class and size as `model`, with fresh random weights (seeded)."""
    torch.manual_seed(seed)
    return type(model)(model.config)


def model_folder_problem(name: str) -> str | None:
    """Return what is wrong with `name` as a model to load (a run folder, a checkpoint, a mistyped folder), or None.

    Loading such a name fails with the library's words ("Unrecognized model...", "Repo id must be in the form...");
    this says what the learner gave and where the model is. A Hub name is None here: only loading can tell.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        if (path / "config.json").exists():
            return None
        if (path / "model" / "config.json").exists():
            return f"{name} is a run folder; its model is in {path / 'model'}"
        if (path / "progress.json").exists():
            return (f"{name} is a checkpoint of a run (what --resume goes on from); the run's model is in "
                    f"{path.parent.parent / 'model'}")
        return f"{name} is a folder with no model in it (no config.json)"
    local = name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1 or (
        name.count("/") == 1 and path.parent.is_dir())
    return f"{name}: no such folder (the path is relative to {Path.cwd()})" if local else None
