"""HTML renderings of masked tokens and sentence pairs (testable without a browser), and the widgets built on them."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Sequence

import ipywidgets as widgets
import torch

from .masking import IGNORE_INDEX, mask_tokens

# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), and every kind
# also has its own border or underline so that nothing depends on colour alone.
STYLE = """<style>
.kit-tokens{font-family:monospace;font-size:13px;line-height:1.3;display:flex;flex-wrap:wrap;gap:3px}
.kit-col{display:inline-flex;flex-direction:column;align-items:center}
.kit-col .tok{padding:1px 4px;border:2px solid transparent;border-radius:3px;white-space:pre}
.kit-col .row2,.kit-col .row3{font-size:11px;color:#555;white-space:pre}
.tok.special{color:#555;background:#eee;border:2px solid #999;font-weight:bold}
.tok.pad{color:#888;border:2px dotted #999}
.tok.pad{background:repeating-linear-gradient(45deg,#f4f4f4,#f4f4f4 3px,#ddd 3px,#ddd 6px)}
.tok.masked{background:#0072B2;color:#fff;border:2px solid #003f63;font-weight:bold}
.tok.random{background:#E69F00;color:#000;border:2px dashed #7a5400;text-decoration:underline wavy}
.tok.kept{background:#cdeee3;color:#000;border:2px dotted #009E73;text-decoration:underline double}
.tok.seg-a{background:#d6eaf8;border-bottom:3px solid #0072B2}
.tok.seg-b{background:#fbe3c6;border-bottom:3px dashed #D55E00}
.kit-legend{font-family:sans-serif;font-size:12px;margin:4px 0;display:flex;gap:10px;flex-wrap:wrap;align-items:center}
.kit-legend .tok{font-family:monospace;padding:1px 4px;border-radius:3px}
.kit-summary{font-family:sans-serif;font-size:13px;margin:4px 0}
</style>"""


def _token(text: str, classes: str, title: str) -> str:
    return f'<span class="tok {classes}" title="{html.escape(title)}">{html.escape(text)}</span>'


def _column(token_html: str, *rows: str) -> str:
    below = "".join(f'<span class="row{i + 2}">{html.escape(r)}</span>' for i, r in enumerate(rows))
    return f'<span class="kit-col">{token_html}{below}</span>'


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return '<div class="kit-legend">' + "".join(_token(t, c, t) for c, t in items) + "</div>"


def render_masked_tokens(input_ids: Sequence[int] | torch.Tensor, masked_ids: Sequence[int] | torch.Tensor,
                         labels: Sequence[int] | torch.Tensor, tokenizer, strategy: str = "bert") -> str:
    """Return HTML of one masked sequence: each token marked by what happened to it, its label beneath.

    The legend lists the kinds of change that `strategy` ('bert' = 80/10/10, 'mask' = always [MASK]) can make.
    """
    ids, new, labs = (torch.as_tensor(x).tolist() for x in (input_ids, masked_ids, labels))
    originals, shown = tokenizer.convert_ids_to_tokens(ids), tokenizer.convert_ids_to_tokens(new)
    special = set(tokenizer.all_special_ids)
    cols, counts = [], {"masked": 0, "random": 0, "kept": 0}
    for tid, nid, lab, orig, tok in zip(ids, new, labs, originals, shown):
        if lab == IGNORE_INDEX:
            kind = "pad" if tid == tokenizer.pad_token_id else "special" if tid in special else ""
            title = f"id {tid}: not selected, label -100 (no loss here)"
        else:
            # A random draw that happens to pick the original token looks, and works, the same as 'kept'.
            kind = "masked" if nid == tokenizer.mask_token_id else "kept" if nid == tid else "random"
            counts[kind] += 1
            title = f"id {nid} (was {orig!r}, id {tid}): {kind}; the model must predict {orig!r}"
        cols.append(_column(_token(tok, kind, title), orig if lab != IGNORE_INDEX else "\u00b7"))
    selectable = sum(1 for t in ids if t not in special)
    n = sum(counts.values())
    summary = (f'<div class="kit-summary"><span class="mask-count">masked: {n}/{selectable}</span> '
               f'({counts["masked"]} \u2192 [MASK], {counts["random"]} \u2192 random token, {counts["kept"]} kept). '
               "Second row: the label, the token the model must predict (\u00b7 = -100, ignored by the loss).</div>")
    kinds = [("masked", "became [MASK]")]
    if strategy == "bert":
        kinds += [("random", "became a random token"), ("kept", "kept, but still predicted")]
    legend = _legend(kinds + [("special", "special token, never masked")])
    return STYLE + legend + summary + '<div class="kit-tokens">' + "".join(cols) + "</div>"


def mask_explorer(text: str, tokenizer, mask_rate: float = 0.15, seed: int = 0) -> widgets.VBox:
    """Return a widget: a mask-rate slider, 80/10/10 and whole-word toggles, a seed, and the masked text."""
    input_ids = tokenizer(text, truncation=True, max_length=512, return_tensors="pt")["input_ids"][0]
    slider = widgets.FloatSlider(value=mask_rate, min=0.05, max=1.0, step=0.05, description="mask rate",
                                 readout_format=".2f", continuous_update=True)
    bert_rule = widgets.Checkbox(value=True, description="80/10/10 rule", indent=False)
    whole_word = widgets.Checkbox(value=False, description="whole words", indent=False)
    seed_box = widgets.IntText(value=seed, description="seed", layout=widgets.Layout(width="150px"))
    resample = widgets.Button(description="new masks", tooltip="draw new masks (seed + 1)")
    view = widgets.HTML()

    def redraw(_=None) -> None:
        strategy = "bert" if bert_rule.value else "mask"
        masked, labels = mask_tokens(input_ids, tokenizer, slider.value, strategy=strategy,
                                     whole_word=whole_word.value, generator=int(seed_box.value))
        view.value = render_masked_tokens(input_ids, masked, labels, tokenizer, strategy)

    def next_seed(_) -> None:
        seed_box.value += 1  # triggers redraw through the observer

    for control in (slider, bert_rule, whole_word, seed_box):
        control.observe(redraw, names="value")
    resample.on_click(next_seed)
    redraw()
    box = widgets.VBox([widgets.HBox([slider, bert_rule, whole_word]), widgets.HBox([seed_box, resample]), view])
    box.add_class("mask-demo")
    return box


NSP_LABEL_NAMES = {0: "0 = IsNext (B really follows A)", 1: "1 = NotNext (B is a random sentence)"}


def render_sentence_pair(input_ids: Sequence[int] | torch.Tensor, token_type_ids: Sequence[int] | torch.Tensor,
                         attention_mask: Sequence[int] | torch.Tensor, tokenizer, label: int | None = None) -> str:
    """Return HTML of one encoded pair: segments A and B apart, [CLS]/[SEP]/[PAD] marked, ids and mask beneath."""
    ids, types, mask = (torch.as_tensor(x).tolist() for x in (input_ids, token_type_ids, attention_mask))
    special = set(tokenizer.all_special_ids)
    cols = []
    for tid, tok, seg, att in zip(ids, tokenizer.convert_ids_to_tokens(ids), types, mask):
        kind = ("pad" if tid == tokenizer.pad_token_id else "special" if tid in special
                else "seg-b" if seg else "seg-a")
        title = f"id {tid}, token_type_id {seg}, attention_mask {att}"
        cols.append(_column(_token(tok, kind, title), str(seg), str(att)))
    n_pad = sum(1 for t in ids if t == tokenizer.pad_token_id)
    summary = (f'<div class="kit-summary"><span class="pair-length">length {len(ids)}</span>, '
               f'<span class="pad-count">padding: {n_pad}</span>'
               + (f', <span class="pair-label">label {html.escape(NSP_LABEL_NAMES[label])}</span>'
                  if label is not None else "")
               + ". Rows beneath each token: token_type_ids, then attention_mask.</div>")
    legend = _legend([("seg-a", "sentence A (token_type_id 0)"), ("seg-b", "sentence B (token_type_id 1)"),
                      ("special", "[CLS] / [SEP]"), ("pad", "[PAD] (attention_mask 0)")])
    return STYLE + legend + summary + '<div class="kit-tokens">' + "".join(cols) + "</div>"


def pair_explorer(pairs: Sequence, tokenizer, max_length: int = 128, batch_size: int = 8) -> widgets.VBox:
    """Return a widget: a slider over (sentence_a, sentence_b, label) pairs, shown as the model receives them."""
    slider = widgets.IntSlider(value=0, min=0, max=len(pairs) - 1, description="pair")
    fixed = widgets.Checkbox(value=False, description=f"pad to fixed length ({max_length})", indent=False)
    view = widgets.HTML()

    def redraw(_=None) -> None:
        i = slider.value
        if fixed.value:
            enc = tokenizer(pairs[i][0], pairs[i][1], truncation=True, max_length=max_length, padding="max_length")
            where = f"padded to max_length={max_length}, as the original lesson does"
        else:
            # Per-batch padding: only as long as the longest pair in this pair's batch.
            start = i - i % batch_size
            batch = pairs[start : start + batch_size]
            enc = tokenizer([p[0] for p in batch], [p[1] for p in batch], truncation=True, max_length=max_length,
                            padding="longest")
            enc = {k: v[i - start] for k, v in enc.items()}
            where = f"padded to the longest pair of its batch (pairs {start}-{start + len(batch) - 1})"
        view.value = (f'<div class="kit-summary">Pair {i}: {html.escape(where)}.</div>'
                      + render_sentence_pair(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"],
                                             tokenizer, int(pairs[i][2])))

    slider.observe(redraw, names="value")
    fixed.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([slider, fixed]), view])
    box.add_class("pair-demo")
    return box


def uploaded_file(value: tuple | dict) -> tuple[str, bytes] | None:
    """Return (name, content) of the first file in a FileUpload's `value`, or None if no file was chosen.

    ipywidgets 8 gives a tuple of dicts with 'name' and 'content' (a memoryview); ipywidgets 7 (Colab's)
    gives a dict of name -> {'metadata': ..., 'content': bytes}.
    """
    if not value:
        return None
    if isinstance(value, dict):
        name, item = next(iter(value.items()))
    else:
        item = value[0]
        name = item["name"]
    return name, bytes(item["content"])


def save_upload(upload: widgets.FileUpload, folder: Path) -> Path | None:
    """Write the file chosen in a FileUpload widget to `folder` and return its path (None if nothing was chosen)."""
    chosen = uploaded_file(upload.value)
    if chosen is None:
        return None
    name, content = chosen
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(name).name  # never a path outside `folder`
    path.write_bytes(content)
    return path
