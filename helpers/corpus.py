"""Read a text file into paragraphs (in blocks, for a text of any size), split them into sentences, split a corpus."""

from __future__ import annotations

import codecs
import random
import re
from pathlib import Path
from typing import Iterable, Iterator, Sequence, TypeVar

T = TypeVar("T")


WRAPPED_LINE_LENGTH = 100  # a median line shorter than this means the text is hard-wrapped


class CorpusError(ValueError):
    """A text file that cannot be used as a corpus; the message names the file and what to change."""


def looks_like_utf16(raw: bytes, sample: int = 8192) -> bool:
    """Return True if the bytes start with a UTF-16 byte-order mark, or have NULs at every other byte as UTF-16 has."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    head = raw[:sample]
    even, odd = head[0::2], head[1::2]
    # Latin-script UTF-16 puts a NUL beside almost every letter, all on one side (odd bytes for little-endian,
    # even for big-endian); a binary file has NULs scattered on both sides.
    nul_even, nul_odd = even.count(0) / max(len(even), 1), odd.count(0) / max(len(odd), 1)
    return len(head) >= 4 and max(nul_even, nul_odd) >= 0.3 and min(nul_even, nul_odd) <= 0.05


def refuse_non_text(path: Path, head: bytes) -> None:
    """Raise CorpusError naming the file if its first bytes are UTF-16 or binary (NUL bytes) rather than UTF-8."""
    if looks_like_utf16(head):
        raise CorpusError(f"{path} is UTF-16 text, not UTF-8: save it as UTF-8 (most editors offer this under "
                          "'Save as... / Encoding').")
    if b"\x00" in head[:8192]:
        raise CorpusError(f"{path} looks like a binary file (it contains NUL bytes), not plain text.")


READ_BYTES = 1 << 20  # bytes read from a text at a time: memory stays flat for a text of any size
STYLE_SAMPLE_CHARS = 4 << 20  # the paragraph style of a text is decided on its first 4 Mi characters


def check_text_file(path: str | Path) -> int:
    """Return the size in bytes of a file that can be read as text, or raise CorpusError saying what to change."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file. Check the path (it is relative to {Path.cwd()}).")
    if path.is_dir():
        raise CorpusError(f"{path} is a folder, not a text file.")
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError as exc:
        raise CorpusError(f"{path} could not be read: {exc.strerror}.") from exc
    if not head:
        raise CorpusError(f"{path} is empty: put some text in it, one paragraph per line or blank lines between.")
    refuse_non_text(path, head)
    return path.stat().st_size


def only_whitespace(path: str | Path) -> CorpusError:
    """Return the error for a text file that holds nothing but whitespace."""
    return CorpusError(f"{path} holds only whitespace: put some text in it.")


def one_paragraph(path: str | Path, style: str) -> CorpusError:
    """Return the error for a text read as a single paragraph, saying how paragraphs are found in it."""
    how = ("each non-blank line is a paragraph" if style == "line" else
           "its lines are hard-wrapped, so paragraphs are the blocks between blank lines")
    return CorpusError(f"{path} holds one paragraph only ({how}); a held-out part needs a second one: put each "
                       "paragraph on its own line, or a blank line between paragraphs.")


def _split_lines(text: str) -> list[str]:
    """Return the lines of `text`: '\\r\\n' and a lone '\\r' end a line as '\n' does (Windows, old Mac files)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def read_lines(path: str | Path, bar=None) -> Iterator[str]:
    """Yield the lines of a UTF-8 file (its BOM dropped), read in blocks; `bar` (tqdm) counts the bytes read."""
    path = Path(path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    carry, offset, at_start = "", 0, True
    with open(path, "rb") as f:
        while True:
            raw = f.read(READ_BYTES)
            pending = len(decoder.getstate()[0])  # bytes of a character cut by the previous block
            try:
                decoded = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                raise CorpusError(
                    f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at position "
                    f"{offset - pending + exc.start}). Save it as UTF-8 (most editors offer this under "
                    "'Save as... / Encoding')."
                ) from exc
            if at_start and decoded:  # drop a BOM that Windows editors write (what utf-8-sig does)
                decoded, at_start = decoded.removeprefix("\ufeff"), False
            text = carry + decoded
            offset += len(raw)
            if bar is not None:
                bar.update(len(raw))
            if not raw:
                yield from _split_lines(text)
                return
            held = "\r" if text.endswith("\r") else ""  # it may be the first half of a '\r\n' cut by the block
            lines = _split_lines(text[: len(text) - len(held)])
            carry = lines.pop() + held
            yield from lines


def text_paragraphs(lines: Iterable[str], style: str) -> Iterator[str]:
    """Yield the paragraphs of these lines: each non-blank line ('line'), or the lines between blank lines, joined."""
    if style == "line":
        yield from (s for s in (line.strip() for line in lines) if s)
        return
    if style != "blank-line":
        raise ValueError(f"style must be 'auto', 'line' or 'blank-line', not {style!r}")
    current: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped:
            current.append(stripped)
        elif current:  # a blank (or whitespace-only) line ends the paragraph
            yield " ".join(current)
            current = []
    if current:
        yield " ".join(current)


def paragraph_style(path: str | Path, style: str = "auto") -> str:
    """Return `style`, or for 'auto' the style detect_paragraph_style finds in the text's first 4 Mi characters."""
    if style != "auto":
        return style
    sample, size = [], 0
    for line in read_lines(path):
        sample.append(line)
        size += len(line) + 1
        if size >= STYLE_SAMPLE_CHARS:
            break
    return detect_paragraph_style("\n".join(sample))


def read_text(path: str | Path) -> str:
    """Return the text of a UTF-8 file with its BOM dropped and line endings made '\\n' (checked: check_text_file)."""
    check_text_file(path)
    text = "\n".join(read_lines(path))
    if not text.strip():
        raise only_whitespace(path)
    return text


def detect_paragraph_style(text: str) -> str:
    """Return 'blank-line' if paragraphs are blocks of wrapped lines between blank lines, else 'line'."""
    if not re.search(r"\n[ \t]*\n", text.strip()):
        return "line"
    # Blank lines between hard-wrapped text (lines of ~70 characters) mark paragraphs; blank lines
    # between long lines are only spacing, and each line is a paragraph already.
    lengths = sorted(len(ln) for ln in text.split("\n") if ln.strip())
    return "blank-line" if lengths[len(lengths) // 2] < WRAPPED_LINE_LENGTH else "line"


def split_paragraphs(text: str, style: str = "auto") -> list[str]:
    """Return the paragraphs of a text: one per line, or blank-line separated blocks with lines joined."""
    if style == "auto":
        style = detect_paragraph_style(text)
    return list(text_paragraphs(_split_lines(text), style))


def read_paragraphs(path: str | Path, style: str = "auto") -> list[str]:
    """Return the non-empty paragraphs of a UTF-8 text file (see `split_paragraphs` for `style`)."""
    return split_paragraphs(read_text(path), style)


# Words whose final '.' does not end a sentence. Compared in lower case, without the final '.'.
ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "prof", "sr", "jr", "vs", "cf", "viz", "i.e", "e.g"}
)
# A candidate boundary: end punctuation, optional closing quotes/brackets, then whitespace.
_BOUNDARY = re.compile(r"([.?!\u2026]+)([\"'\u201d\u2019)\]]*)\s+")


def _ends_with_abbreviation(text_before: str) -> bool:
    """Return True if the text (which ends just before a '.') ends with a known abbreviation."""
    words = text_before.split()
    return bool(words) and words[-1].lstrip("(\"'\u201c\u2018").lower() in ABBREVIATIONS


def split_sentences(paragraph: str) -> list[str]:
    """Return the sentences of a paragraph, each keeping its end punctuation."""
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(paragraph):
        punctuation = match.group(1)
        if punctuation.startswith("..") or "\u2026" in punctuation:
            continue  # an ellipsis trails off inside a sentence
        if punctuation == "." and _ends_with_abbreviation(paragraph[start : match.start(1)]):
            continue
        sentences.append(paragraph[start : match.end(2)])
        start = match.end()
    sentences.append(paragraph[start:])
    return [s.strip() for s in sentences if s.strip()]


def split_held_out(items: Sequence[T], held_out_fraction: float = 0.1, seed: int = 0,
                   keep_order: bool = False) -> tuple[list[T], list[T]]:
    """Return (train, held_out): a seeded shuffle of `items` cut so that both parts are non-empty.

    With `keep_order`, each part lists its items in their order in `items` (the same items as without it): packed
    windows run on from a paragraph into the one that follows it in the text.
    """
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be between 0 and 1, got {held_out_fraction}")
    if len(items) < 2:
        raise ValueError(f"need at least 2 items to split into train and held-out, got {len(items)}")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_held_out = min(max(1, round(len(items) * held_out_fraction)), len(items) - 1)
    train, held_out = order[n_held_out:], order[:n_held_out]
    if keep_order:
        train, held_out = sorted(train), sorted(held_out)
    return [items[i] for i in train], [items[i] for i in held_out]
