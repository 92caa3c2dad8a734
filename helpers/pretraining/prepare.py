"""Prepare a large text for pre-training once: token ids on disk, NSP pairs as indices, Datasets over them.

The lessons hold a text in memory as Python lists; a text of hundreds of megabytes does not fit that way. Here the
text is read in blocks, its sentences tokenized in batches and written as flat arrays (.npy files) in a cache
folder keyed by the text's SHA-256, the tokenizer and the settings, so that a second run, and every other process
of a multi-process run, reuses them. NSP pairs follow `helpers.nsp.segment_spans` (BERT's recipe) and are stored as
token positions; `PairDataset` builds [CLS] A [SEP] B [SEP] only when a batch asks for a pair.

Files of a prepared text (`<cache>/<key>/`): tokens.npy (token ids of every sentence, one after the other),
offsets.npy (where each sentence starts, plus the end), paragraph.npy (the paragraph of each sentence) and
manifest.json; under pairs-<key>/, one folder per side of the held-out split with the same three arrays for its
sentences and pairs.npy (rows: start and end of A, start and end of B in that side's tokens.npy, the label).
MLM-only training needs no pairs: `WindowDataset` cuts a side's tokens.npy into contiguous windows.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from array import array
from itertools import chain
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import numpy as np
import torch
from filelock import FileLock
from tokenizers import Tokenizer
from tqdm.auto import tqdm

from ..corpus import (
    check_text_file,
    one_paragraph,
    only_whitespace,
    paragraph_style,
    read_lines,
    split_held_out,
    split_sentences,
    text_paragraphs,
)
from ..data import ceil_div, chunk_room, pair_room
from ..nsp import HELD_OUT_SEED_OFFSET, segment_spans, with_special_tokens
from .config import with_nsp
from .files import file_sha256, staged

FORMAT_VERSION = 2  # bump when the files or the recipe change: older cache folders are then not reused
CACHE_ENV = "KIT_DATA_CACHE"
BLOCK_CHARS = 1 << 20  # characters of paragraphs tokenized in one call
SENTENCE_BLOCK = 1 << 20  # sentences copied at a time when the held-out split is written


def default_cache_dir() -> Path:
    """Return the folder for prepared texts: $KIT_DATA_CACHE, else ~/.cache/bert-pretraining-kit/prepared."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "bert-pretraining-kit" / "prepared")


# --- tokenizing into flat arrays ---------------------------------------------------------------------------------


def paragraph_blocks(paragraphs: Iterable[str], block_chars: int = BLOCK_CHARS) -> Iterator[list[str]]:
    """Yield the paragraphs in lists of about `block_chars` characters (what one encoder call gets)."""
    block, size = [], 0
    for paragraph in paragraphs:
        block.append(paragraph)
        size += len(paragraph)
        if size >= block_chars:
            yield block
            block, size = [], 0
    if block:
        yield block


class EncodedBlock(NamedTuple):
    """The sentences of a block of paragraphs: their token ids one after the other, and counts to cut them apart."""

    ids: np.ndarray  # every token id of the block, no special tokens
    sentence_lengths: np.ndarray  # tokens per sentence
    sentences_per_paragraph: np.ndarray


def sentence_encoder(tokenizer) -> Tokenizer:
    """Return a copy of the fast tokenizer's engine that gives tokenizer(texts, add_special_tokens=False)'s ids.

    Its encode_batch_fast skips the character offsets that a tokenizer call computes and converts: about 40% less
    time. A copy, with truncation and padding off, so that the caller's tokenizer is left as it was.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(f"preparing a large text needs a fast tokenizer (use_fast=True), "
                         f"got {type(tokenizer).__name__}")
    encoder = Tokenizer.from_str(backend.to_str())
    encoder.no_truncation()
    encoder.no_padding()
    return encoder


def encode_block(encoder: Tokenizer, paragraphs: list[str], dtype: np.dtype) -> EncodedBlock:
    """Return the block's sentences (helpers.corpus.split_sentences) tokenized in one batch call."""
    per_paragraph = [split_sentences(p) for p in paragraphs]
    sentences = [s for group in per_paragraph for s in group]
    ids = [e.ids for e in encoder.encode_batch_fast(sentences, add_special_tokens=False)]
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter(chain.from_iterable(ids), dtype=dtype, count=int(lengths.sum()))
    return EncodedBlock(flat, lengths, np.fromiter(map(len, per_paragraph), dtype=np.int64, count=len(paragraphs)))


class NpyWriter:
    """Write a 1-D .npy file piece by piece, its length known only at the end."""

    def __init__(self, path: Path, dtype):
        self.file, self.dtype, self.count = open(path, "wb"), np.dtype(dtype), 0
        self._write_header()  # a placeholder of the same size, rewritten by close() with the final length
        self.data_start = self.file.tell()

    def _write_header(self) -> None:
        np.lib.format.write_array_header_1_0(self.file, {"descr": np.lib.format.dtype_to_descr(self.dtype),
                                                         "fortran_order": False, "shape": (self.count,)})

    def append(self, values: np.ndarray) -> None:
        """Write `values` (converted to the file's dtype) after what is there."""
        values = np.ascontiguousarray(values, dtype=self.dtype)
        self.file.write(values.tobytes())
        self.count += values.size

    def close(self) -> None:
        """Write the final header (same size as the placeholder) and close the file."""
        self.file.seek(0)
        self._write_header()
        if self.file.tell() != self.data_start:
            raise RuntimeError(f"{self.file.name}: the .npy header changed size; the file is not valid")
        self.file.close()


class NpyReader:
    """Read slices of a 1-D .npy file from disk: what was read stays in the OS page cache, not in this process."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            np.lib.format.read_magic(f)
            shape, _, self.dtype = np.lib.format.read_array_header_1_0(f)
            self.data_start, self.count = f.tell(), shape[0]
        self._file, self._pid = None, None

    def __len__(self) -> int:
        return self.count

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return the values [start, stop) as a new array."""
        if self._pid != os.getpid():  # a DataLoader worker (forked) opens its own file: no shared file position
            self._file, self._pid = open(self.path, "rb", buffering=0), os.getpid()
        self._file.seek(self.data_start + start * self.dtype.itemsize)
        return np.frombuffer(self._file.read((stop - start) * self.dtype.itemsize), dtype=self.dtype)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None, "_pid": None}  # an open file cannot go to another process


def tokenize_text(path: Path, tokenizer, style: str, folder: Path, verbose: bool = True) -> dict:
    """Write the text's sentences as tokens.npy, offsets.npy and paragraph.npy in `folder`; return the counts."""
    dtype = np.dtype(np.uint16 if len(tokenizer) <= 1 << 16 else np.int32)
    tokens, offsets, paragraph = (NpyWriter(folder / "tokens.npy", dtype), NpyWriter(folder / "offsets.npy", np.int64),
                                  NpyWriter(folder / "paragraph.npy", np.int64))
    offsets.append(np.zeros(1))
    n_tokens = n_paragraphs = unknown = 0
    with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc="tokenizing", disable=not verbose) as bar:
        encoder = sentence_encoder(tokenizer)
        # One process: the encoder already runs on every core (measured: two worker processes were 4x slower)
        for paragraphs in paragraph_blocks(text_paragraphs(read_lines(path, bar), style)):
            block = encode_block(encoder, paragraphs, dtype)
            tokens.append(block.ids)
            offsets.append(n_tokens + np.cumsum(block.sentence_lengths))
            paragraph.append(np.repeat(np.arange(n_paragraphs, n_paragraphs + len(block.sentences_per_paragraph)),
                                       block.sentences_per_paragraph))
            n_tokens += block.ids.size
            n_paragraphs += len(block.sentences_per_paragraph)
            if tokenizer.unk_token_id is not None:
                unknown += int(np.count_nonzero(block.ids == tokenizer.unk_token_id))
    for writer in (tokens, offsets, paragraph):
        writer.close()
    if not n_paragraphs:
        raise only_whitespace(path)
    return {"paragraphs": n_paragraphs, "sentences": paragraph.count, "tokens": n_tokens, "unknown_tokens": unknown,
            "dtype": dtype.name}


# --- the held-out split and the NSP pairs ------------------------------------------------------------------------


def write_split(source: Path, held_out: np.ndarray, train_folder: Path, held_out_folder: Path,
                verbose: bool = True) -> None:
    """Copy each sentence of `source` (a tokenize_text folder) to the side its paragraph is on: same three files."""
    tokens, offsets, paragraph = (NpyReader(source / f"{name}.npy") for name in ("tokens", "offsets", "paragraph"))
    sides = []
    for folder in (train_folder, held_out_folder):
        folder.mkdir()
        writers = (NpyWriter(folder / "tokens.npy", tokens.dtype), NpyWriter(folder / "offsets.npy", np.int64),
                   NpyWriter(folder / "paragraph.npy", np.int64))
        writers[1].append(np.zeros(1))
        sides.append(writers)
    n = len(paragraph)
    with tqdm(total=n, unit=" sentences", desc="held-out split", disable=not verbose, leave=False) as bar:
        for start in range(0, n, SENTENCE_BLOCK):
            stop = min(n, start + SENTENCE_BLOCK)
            bounds, owner = offsets.read(start, stop + 1), paragraph.read(start, stop)
            ids, lengths = tokens.read(int(bounds[0]), int(bounds[-1])), np.diff(bounds)
            on_held_out = held_out[owner]
            for (t, o, p), chosen in zip(sides, (~on_held_out, on_held_out)):
                o.append(t.count + np.cumsum(lengths[chosen]))
                t.append(ids[np.repeat(chosen, lengths)])
                p.append(owner[chosen])
            bar.update(stop - start)
    for writer in chain.from_iterable(sides):
        writer.close()


def write_pairs(folder: Path, *, max_tokens: int, seed: int, short_fraction: float, not_next_fraction: float,
                verbose: bool = True, desc: str = "NSP pairs") -> int:
    """Write pairs.npy for the sentences in `folder` (helpers.nsp.segment_spans); return the tokens cut to fit."""
    bounds = np.load(folder / "offsets.npy")
    # memoryviews: Python ints on indexing, several times faster than numpy scalars in segment_spans' loop
    lengths = memoryview(np.diff(bounds))
    paragraph_of = memoryview(np.load(folder / "paragraph.npy"))
    starts = memoryview(bounds)
    rows, cut = array("q"), 0
    spans = segment_spans(lengths, paragraph_of, max_tokens=max_tokens, seed=seed, short_fraction=short_fraction,
                          not_next_fraction=not_next_fraction)
    with tqdm(total=len(lengths), unit=" sentences", desc=desc, disable=not verbose, leave=False) as bar:
        for span in spans:
            a_stop, b_start = starts[span.a_end], starts[span.b_start]
            rows.extend((a_stop - span.a_kept, a_stop, b_start, b_start + span.b_kept, span.label))
            cut += a_stop - starts[span.a_start] - span.a_kept + starts[span.b_end] - b_start - span.b_kept
            bar.update(span.a_start - bar.n)  # A always starts where the stream is
        bar.update(len(lengths) - bar.n)
    np.save(folder / "pairs.npy", np.frombuffer(rows, dtype=np.int64).reshape(-1, 5))
    return cut


# --- the Dataset -------------------------------------------------------------------------------------------------


class PairDataset(torch.utils.data.Dataset):
    """NSP pairs of a prepared text; an item is [CLS] A [SEP] B [SEP] read from tokens.npy when it is asked for.

    `lengths` (a numpy array: tokens of each pair, special tokens included) is there for length-grouped batches.
    """

    def __init__(self, folder: Path, tokenizer):
        self.folder, self.tokenizer = Path(folder), tokenizer
        self.pairs = np.load(self.folder / "pairs.npy")  # small: five integers a pair
        self.tokens = NpyReader(self.folder / "tokens.npy")
        self.lengths = self.pairs[:, 1] - self.pairs[:, 0] + self.pairs[:, 3] - self.pairs[:, 2] + 3

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        a_start, a_stop, b_start, b_stop, label = self.pairs[index].tolist()
        return {**with_special_tokens(self.tokenizer, self.tokens.read(a_start, a_stop).tolist(),
                                      self.tokens.read(b_start, b_stop).tolist()),
                "next_sentence_label": label}


class WindowDataset(torch.utils.data.Dataset):
    """MLM-only examples of a prepared text: [CLS] window [SEP], the windows cut one after the other from tokens.npy.

    The sentences and paragraphs of a side run on as one stream (as RoBERTa read its text), cut every
    max_length - 2 tokens: every token is in exactly one window, and only the last window may be shorter. The
    windows of the lessons' helpers.data.pack_windows, read from disk.
    """

    def __init__(self, folder: Path, tokenizer, max_length: int):
        self.tokenizer, self.room = tokenizer, chunk_room(max_length)
        self.tokens = NpyReader(Path(folder) / "tokens.npy")
        n = len(self.tokens)
        self.lengths = np.full(ceil_div(n, self.room), self.room + 2, dtype=np.int64)
        if n % self.room:
            self.lengths[-1] = n % self.room + 2

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> dict:
        start = index * self.room
        ids = self.tokens.read(start, min(start + self.room, len(self.tokens))).tolist()
        return with_special_tokens(self.tokenizer, ids)


# --- putting it together, with a cache ---------------------------------------------------------------------------


class PreparedText(NamedTuple):
    """A prepared text: training and held-out examples (Datasets of pairs or windows), and counts for a summary."""

    train: PairDataset | WindowDataset
    held_out: PairDataset | WindowDataset
    summary: dict


def tokenizer_fingerprint(tokenizer) -> str:
    """Return a hash of everything that decides the tokenizer's output (vocabulary, normalizer, splitting rules)."""
    return hashlib.sha256(sentence_encoder(tokenizer).to_str().encode()).hexdigest()


def _key(settings: dict) -> str:
    """Return a short hash of `settings` (a folder name)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]


def _build_once(folder: Path, build) -> bool:
    """Build `folder` with `build(staging)` unless a complete one exists; return True if it was reused.

    One process builds while the others (a file lock) wait, then reuse it. The folder appears whole or not at all.
    """
    with FileLock(str(folder) + ".lock"):
        if (folder / "manifest.json").exists():
            return True
        with staged(folder) as staging:
            staging.mkdir(parents=True)
            manifest = build(staging)
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return False


def prepare_text(path: str | Path, tokenizer, *, max_length: int, objective: str = "mlm+nsp", seed: int = 0,
                 held_out_fraction: float = 0.1, short_fraction: float = 0.1, not_next_fraction: float = 0.5,
                 style: str = "auto", cache_dir: str | Path | None = None, verbose: bool = True,
                 text_sha256: str | None = None) -> PreparedText:
    """Return the text's training and held-out examples, prepared on disk once and reused after.

    A seeded `held_out_fraction` of the paragraphs is held out (as helpers.corpus.split_held_out chooses them).
    objective 'mlm+nsp': NSP pairs as helpers.nsp.make_segment_pairs makes them, with max_tokens =
    pair_room(max_length) ([CLS] and two [SEP]), on each side separately. 'mlm': contiguous windows of each side
    (WindowDataset). `text_sha256`: the file's hash where the caller has checked the file and hashed it already.
    """
    path, pairs, began = Path(path), with_nsp(objective), time.perf_counter()
    room = pair_room(max_length) if pairs else chunk_room(max_length)  # too short a max_length raises here
    if text_sha256 is None:
        check_text_file(path)
        text_sha256 = file_sha256(path)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    style = paragraph_style(path, style)
    text_settings = {"version": FORMAT_VERSION, "text_sha256": text_sha256,
                     "tokenizer": tokenizer_fingerprint(tokenizer), "style": style}
    text_folder = cache / _key(text_settings)
    tokens_reused = _build_once(text_folder, lambda staging: {
        **text_settings, "text": str(path.resolve()), "tokenizer_name": tokenizer.name_or_path,
        **tokenize_text(path, tokenizer, style, staging, verbose)})
    counts = json.loads((text_folder / "manifest.json").read_text())
    if counts["paragraphs"] < 2:
        raise one_paragraph(path, style)
    # The split depends on the seed and the fraction alone; pairs also on their length and recipe.
    settings = {"seed": seed, "held_out_fraction": held_out_fraction}
    if pairs:
        settings.update(max_tokens=room, short_fraction=short_fraction, not_next_fraction=not_next_fraction)
    folder = text_folder / (f"pairs-{_key(settings)}" if pairs else f"split-{_key(settings)}")
    examples_reused = _build_once(folder, lambda staging: split_and_pair(
        path, text_folder, staging, counts["paragraphs"], settings, verbose))
    if pairs:
        train, held_out = PairDataset(folder / "train", tokenizer), PairDataset(folder / "held_out", tokenizer)
    else:
        train, held_out = (WindowDataset(folder / side, tokenizer, max_length) for side in ("train", "held_out"))
    cut = json.loads((folder / "manifest.json").read_text())["tokens_cut"]
    summary = {**{k: counts[k] for k in ("paragraphs", "sentences", "tokens", "unknown_tokens")},
               "examples": "pairs" if pairs else "windows", "train_examples": len(train),
               "held_out_examples": len(held_out), "tokens_cut": sum(cut.values()),
               "seconds": round(time.perf_counter() - began, 2), "tokens_reused": tokens_reused,
               "examples_reused": examples_reused, "folder": str(folder)}
    if verbose:
        print(describe(path, summary, max_length))
    return PreparedText(train, held_out, summary)


def split_and_pair(path: Path, text_folder: Path, staging: Path, paragraphs: int, settings: dict,
                   verbose: bool) -> dict:
    """Write the seeded held-out split of a tokenized text (`text_folder`) to `staging`, and each side's NSP pairs
    when `settings` has their recipe (max_tokens); return the manifest: the settings and the tokens cut to fit."""
    seed = settings["seed"]
    held_out = np.zeros(paragraphs, dtype=bool)
    held_out[split_held_out(range(paragraphs), settings["held_out_fraction"], seed=seed)[1]] = True
    write_split(text_folder, held_out, staging / "train", staging / "held_out", verbose)
    cut = {}
    sides = (("train", seed), ("held_out", seed + HELD_OUT_SEED_OFFSET))  # the seeds of split_nsp_pairs
    for side, side_seed in sides if "max_tokens" in settings else ():
        try:
            cut[side] = write_pairs(staging / side, max_tokens=settings["max_tokens"], seed=side_seed,
                                    short_fraction=settings["short_fraction"],
                                    not_next_fraction=settings["not_next_fraction"], verbose=verbose,
                                    desc=f"NSP pairs ({side})")
        except ValueError as exc:
            side_paragraphs = int(held_out.sum()) if side == "held_out" else int((~held_out).sum())
            counted = f"{side_paragraphs} paragraph{'' if side_paragraphs == 1 else 's'}"
            raise ValueError(f"{path}: the {side.replace('_', '-')} part ({counted}) is too small for NSP pairs: "
                             f"{exc} Change the held-out fraction or use a longer text.") from None
    return {**settings, "tokens_cut": cut}


def describe(path: Path, summary: dict, max_length: int) -> str:
    """Return the one-line summary of a prepared text."""
    kind = summary["examples"]
    reused = "reused from the cache" if summary["examples_reused"] else (
        f"tokens reused, {kind} built" if summary["tokens_reused"] else "prepared")
    return (f"{path.name}: {summary['paragraphs']:,} paragraphs, {summary['sentences']:,} sentences, "
            f"{summary['tokens']:,} tokens -> {summary['train_examples']:,} training and "
            f"{summary['held_out_examples']:,} held-out {kind} ({summary['tokens_cut']:,} tokens cut to fit "
            f"{max_length}); {reused} in "
            f"{summary['seconds']:.1f} s ({summary['folder']})")
