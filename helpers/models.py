"""Load a BERT tokenizer and model head: bert-base-uncased from the Hub (full mode) or a tiny local BERT (quick mode)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertTokenizerFast,
)
from transformers.utils import logging as hf_logging

from . import DATA_DIR, MEDITATIONS, REPO_ROOT

HEADS = {"mlm": BertForMaskedLM, "nsp": BertForNextSentencePrediction, "pretraining": BertForPreTraining}
DEFAULT_MODEL = "bert-base-uncased"
HUB_PROBE_SECONDS = 3.0
# The tiny BERT's vocabulary, trained on meditations.txt by scripts/train_tiny_vocab.py and committed:
# the WordPiece trainer breaks frequency ties in hash order, so retraining gives a slightly different vocabulary.
TINY_VOCAB = DATA_DIR / "tiny_bert_vocab.txt"

# The tiny BERT of quick mode: small enough to train at thousands of tokens/s on a laptop CPU.
TINY_VOCAB_SIZE = 4000
TINY_CONFIG = dict(
    hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512, max_position_embeddings=512
)


@dataclass(frozen=True)
class RunMode:
    """Which mode the kit runs in and why: quick (tiny local BERT) or full (a Hub model)."""

    quick: bool
    reason: str

    @property
    def name(self) -> str:
        return "quick" if self.quick else "full"

    def banner(self) -> str:
        """Return the one line that tells the learner which model is used and why."""
        if self.quick:
            return f"QUICK mode: a tiny BERT built locally from {MEDITATIONS.name} ({self.reason})."
        return f"FULL mode: {DEFAULT_MODEL} from the Hugging Face Hub ({self.reason})."


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Return True if the Hugging Face Hub answers an HTTP request within `timeout` seconds."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    answered = threading.Event()

    def probe() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/api/models/{DEFAULT_MODEL}", method="HEAD"), timeout=timeout)
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


@functools.cache
def run_mode() -> RunMode:
    """Return the run mode, decided once per process: KIT_QUICK=1, HF_HUB_OFFLINE=1 or no Hub means quick."""
    if _env_flag("KIT_QUICK"):
        return RunMode(True, "KIT_QUICK=1 is set")
    if _env_flag("HF_HUB_OFFLINE"):
        return RunMode(True, "HF_HUB_OFFLINE=1 is set")
    if not hub_reachable():
        return RunMode(True, f"the Hugging Face Hub did not answer within {HUB_PROBE_SECONDS:.0f} s")
    return RunMode(False, "the Hub is reachable; set KIT_QUICK=1 for the tiny model")


_announced: set[RunMode] = set()


def announce_mode() -> RunMode:
    """Print the run mode's one-line banner, the first time only, and return the mode."""
    mode = run_mode()
    if mode not in _announced:
        print(mode.banner())
        _announced.add(mode)
    return mode


def cache_dir() -> Path:
    """Return the folder for the kit's built files (KIT_CACHE_DIR, else .kit_cache in the repository)."""
    return Path(os.environ.get("KIT_CACHE_DIR", REPO_ROOT / ".kit_cache"))


def _tiny_model_key(vocab: Path) -> str:
    """Return a short hash that changes when the vocabulary or the tiny model's recipe changes."""
    recipe = repr(sorted(TINY_CONFIG.items())).encode()
    return hashlib.sha256(vocab.read_bytes() + recipe).hexdigest()[:12]


def train_wordpiece_tokenizer(corpus: Path, vocab_size: int = TINY_VOCAB_SIZE) -> BertTokenizerFast:
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


def build_tiny_bert(folder: Path, vocab: Path = TINY_VOCAB, seed: int = 0) -> Path:
    """Write a WordPiece tokenizer from `vocab` and a randomly initialised tiny BertForPreTraining to `folder`."""
    # Build next to the final folder, then rename: a half-written folder is never seen as a cache hit.
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=folder.name + ".tmp-"))
    shutil.copyfile(vocab, staging / "vocab.txt")
    with quiet_transformers():
        tokenizer = BertTokenizerFast.from_pretrained(staging)
        config = BertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **TINY_CONFIG)
        torch.manual_seed(seed)  # the same starting weights on every machine
        model = BertForPreTraining(config)
        tokenizer.save_pretrained(staging)
        model.save_pretrained(staging)
    try:
        staging.rename(folder)
    except OSError:  # another process finished first: keep its copy
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def tiny_bert_path(vocab: Path = TINY_VOCAB) -> Path:
    """Return the folder of the quick-mode tiny BERT, building it on first use (about a second)."""
    folder = cache_dir() / f"tiny-bert-{_tiny_model_key(vocab)}"
    if not (folder / "config.json").exists():
        build_tiny_bert(folder, vocab)
    return folder


def model_source(name: str = DEFAULT_MODEL, mode: RunMode | None = None) -> str:
    """Return what to pass to from_pretrained: a local folder as is, the tiny BERT in quick mode, else `name`."""
    if Path(name).is_dir():
        return str(name)
    mode = mode or run_mode()
    return str(tiny_bert_path()) if mode.quick else name


def load_tokenizer(name: str = DEFAULT_MODEL):
    """Return the tokenizer for `name` (or the tiny BERT's in quick mode)."""
    return AutoTokenizer.from_pretrained(model_source(name))


def load_model(task: str, name: str = DEFAULT_MODEL, *, verbose: bool = True):
    """Return (tokenizer, model) with the BERT head for `task`: 'mlm', 'nsp' or 'pretraining'."""
    if task not in HEADS:
        raise ValueError(f"task must be one of {sorted(HEADS)}, got {task!r}")
    source = model_source(name)
    if verbose and not Path(name).is_dir():
        announce_mode()
    # The checkpoints hold both heads (MLM and NSP): the report that the unused one was skipped is expected.
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = HEADS[task].from_pretrained(source)
    return tokenizer, model
