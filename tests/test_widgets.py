import re
from types import SimpleNamespace

import ipywidgets
import pytest

from helpers.data import pair_room
from helpers.masking import mask_tokens
from helpers.nsp import make_nsp_pairs
from helpers.widgets import mask_explorer, pair_explorer, render_masked_tokens, render_sentence_pair, save_upload


def tokens_part(html: str) -> str:
    """Return the token rows only, without the legend (whose swatches use the same classes)."""
    return html.split('<div class="kit-tokens">', 1)[1]


def count(html: str) -> tuple[int, int]:
    return tuple(map(int, re.search(r"masked: (\d+)/(\d+)", html).groups()))


def test_render_masked_tokens_marks_every_kind_with_ids_on_hover(tokenizer, paragraphs):
    ids = tokenizer(paragraphs[6], return_tensors="pt")["input_ids"][0]
    masked, labels = mask_tokens(ids, tokenizer, 0.5, generator=0)
    html = render_masked_tokens(ids, masked, labels, tokenizer)
    selected = int((labels != -100).sum())
    assert count(html) == (selected, len(ids) - 2)
    tokens = tokens_part(html)
    n_marked = sum(tokens.count(f'class="tok {kind}"') for kind in ("masked", "random", "kept"))
    assert n_marked == selected
    assert tokens.count('class="tok masked"') == int((masked == tokenizer.mask_token_id).sum())
    assert f'title="id {int(ids[1])}' in html
    assert "became [MASK]" in html and "random token" in html and "kept" in html  # the legend
    assert "text-decoration" in html and "dashed" in html, "marks beyond colour"


def test_mask_explorer_reacts_to_its_controls(tokenizer, paragraphs):
    box = mask_explorer(paragraphs[5], tokenizer, mask_rate=0.15, seed=0)
    slider, bert_rule, whole_word = box.children[0].children
    view = box.children[2]
    low = count(view.value)[0]
    slider.value = 0.6
    assert count(view.value)[0] > low
    assert "became a random token" in view.value
    bert_rule.value = False
    assert "became a random token" not in view.value and "became [MASK]" in view.value
    assert 'class="tok random"' not in tokens_part(view.value) and 'class="tok kept"' not in tokens_part(view.value)
    seed_box, resample = box.children[1].children
    before = view.value
    resample.click()
    assert seed_box.value == 1 and view.value != before


def test_render_sentence_pair_marks_segments_and_specials(tokenizer):
    enc = tokenizer("The first sentence.", "The second one.", padding="max_length", max_length=16)
    html = render_sentence_pair(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"], tokenizer, 1)
    a, b = tokenizer.tokenize("The first sentence."), tokenizer.tokenize("The second one.")
    tokens = tokens_part(html)
    assert tokens.count('class="tok seg-a"') == len(a) and tokens.count('class="tok seg-b"') == len(b)
    assert tokens.count('class="tok special"') == 3  # [CLS] and two [SEP]
    assert tokens.count('class="tok pad"') == pair_room(16) - len(a) - len(b)
    assert "NotNext" in html and "token_type_id 1" in html


def test_pair_explorer_shows_another_pair_and_fixed_padding(tokenizer, paragraphs):
    pairs = make_nsp_pairs(paragraphs[:40], seed=0)
    box = pair_explorer(pairs, tokenizer, max_length=64, batch_size=4)
    slider, fixed = box.children[0].children
    view = box.children[1]
    first = view.value
    slider.value = 5
    assert view.value != first and "Pair 5" in view.value
    fixed.value = True
    assert "length 64" in view.value


TEXT = "First paragraph.\n\nSecond one.\n".encode()
# FileUpload.value as each ipywidgets version gives it (7.7 is Colab's).
UPLOADS = {
    "ipywidgets 8": ({"name": "notes.txt", "type": "text/plain", "size": len(TEXT), "content": memoryview(TEXT),
                      "last_modified": 0},),
    "ipywidgets 7": {"notes.txt": {"metadata": {"name": "notes.txt", "type": "text/plain", "size": len(TEXT),
                                                "lastModified": 0}, "content": TEXT}},
}


@pytest.mark.parametrize("version", UPLOADS)
def test_save_upload_writes_the_chosen_file_from_either_ipywidgets_version(version, tmp_path):
    path = save_upload(SimpleNamespace(value=UPLOADS[version]), tmp_path / "uploads")
    assert path == tmp_path / "uploads" / "notes.txt"
    assert path.read_bytes() == TEXT


@pytest.mark.parametrize("empty", [(), {}], ids=["ipywidgets 8", "ipywidgets 7"])
def test_save_upload_without_a_file_returns_none_and_writes_nothing(empty, tmp_path):
    assert save_upload(SimpleNamespace(value=empty), tmp_path / "uploads") is None
    assert not (tmp_path / "uploads").exists()


def test_save_upload_of_an_untouched_widget_returns_none(tmp_path):
    assert save_upload(ipywidgets.FileUpload(), tmp_path) is None


def test_an_uploaded_name_cannot_leave_the_folder(tmp_path):
    evil = {"../../evil.txt": {"metadata": {}, "content": b"x"}}
    assert save_upload(SimpleNamespace(value=evil), tmp_path / "uploads") == tmp_path / "uploads" / "evil.txt"
