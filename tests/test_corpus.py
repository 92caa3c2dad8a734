import pytest

from helpers import MEDITATIONS
from helpers.corpus import CorpusError, detect_paragraph_style, read_paragraphs, split_held_out, split_sentences


def test_meditations_has_one_paragraph_per_line(paragraphs):
    assert len(paragraphs) == 507
    assert paragraphs[0].startswith("From my grandfather Verus")
    assert all(p == p.strip() and p for p in paragraphs)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty"), (b"  \n\t\n ", "only whitespace"), (b"caf\xe9 au lait\n", "not UTF-8"),
     (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary")],
)
def test_unusable_files_get_a_clear_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "my_corpus.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message) as info:
        read_paragraphs(path)
    assert "my_corpus.txt" in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_paragraphs(tmp_path / "nope.txt")
    with pytest.raises(CorpusError, match="folder"):
        read_paragraphs(tmp_path)


def test_bom_and_windows_line_endings(tmp_path):
    path = tmp_path / "win.txt"
    path.write_bytes("\ufeffFirst paragraph.\r\nSecond one.\r\n".encode("utf-8"))
    assert read_paragraphs(path) == ["First paragraph.", "Second one."]


def test_blank_line_paragraphs_with_wrapped_lines_are_joined(tmp_path):
    text = "The first paragraph is\nwrapped over two lines.\n\nThe second\nalso wraps.\n"
    assert detect_paragraph_style(text) == "blank-line"
    path = tmp_path / "wrapped.txt"
    path.write_text(text)
    assert read_paragraphs(path) == ["The first paragraph is wrapped over two lines.", "The second also wraps."]


def test_long_lines_with_blank_lines_between_stay_one_paragraph_per_line():
    long_line = "word " * 40
    text = f"{long_line}\n{long_line}\n\n{long_line}\n"
    assert detect_paragraph_style(text) == "line"
    assert detect_paragraph_style(MEDITATIONS.read_text()) == "line"


def test_split_held_out_is_seeded_disjoint_and_complete():
    items = list(range(100))
    train, held = split_held_out(items, 0.1, seed=3)
    assert len(held) == 10 and sorted(train + held) == items
    assert split_held_out(items, 0.1, seed=3) == (train, held)
    assert split_held_out(items, 0.1, seed=4) != (train, held)
    assert all(len(part) == 1 for part in split_held_out(["a", "b"], 0.1))
    with pytest.raises(ValueError):
        split_held_out(["only one"])


@pytest.mark.parametrize(
    "paragraph, expected",
    [
        ("One. Two? Three!", ["One.", "Two?", "Three!"]),
        ("Mr. Smith met St. Paul. Then they left.", ["Mr. Smith met St. Paul.", "Then they left."]),
        ("Use tools, i.e. hammers. Or e.g. saws.", ["Use tools, i.e. hammers.", "Or e.g. saws."]),
        ("He paused... then spoke. Done.", ["He paused... then spoke.", "Done."]),
        ("Pi is 3.14 roughly. Yes.", ["Pi is 3.14 roughly.", "Yes."]),
        ('He said "Go." She went.', ['He said "Go."', "She went."]),
        ("  Trailing words without a stop  ", ["Trailing words without a stop"]),
        ("...", ["..."]),
        ("", []),
    ],
)
def test_split_sentences(paragraph, expected):
    assert split_sentences(paragraph) == expected


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_files_are_named_as_utf16(tmp_path, encoding):
    path = tmp_path / "notepad.txt"
    path.write_bytes("Waste no more time arguing what a good man should be. Be one.\n".encode(encoding))
    with pytest.raises(CorpusError, match="notepad.txt is UTF-16.*save it as UTF-8"):
        read_paragraphs(path)


def test_scattered_nul_bytes_are_still_called_binary(tmp_path):
    import random

    path = tmp_path / "blob.txt"
    rng = random.Random(0)
    path.write_bytes(bytes(rng.choice([0, 0, 1, 7, 65, 200]) for _ in range(4000)))
    with pytest.raises(CorpusError, match="binary"):
        read_paragraphs(path)
