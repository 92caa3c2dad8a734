"""Open a BERT model: where its parameters are (a module tree with counts) and a drawing of its architecture."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# Parameter-name patterns -> the part of BERT they belong to, in the order data flows through the model.
PARTS = (
    (r"embeddings\.word_embeddings\.", "token embeddings"),
    (r"embeddings\.position_embeddings\.", "position embeddings"),
    (r"embeddings\.token_type_embeddings\.", "segment embeddings"),
    (r"embeddings\.LayerNorm\.", "embedding LayerNorm"),
    (r"encoder\.layer\.\d+\.attention\.", "encoder: self-attention"),
    (r"encoder\.layer\.\d+\.(intermediate|output)\.", "encoder: feed-forward"),
    (r"pooler\.", "pooler ([CLS] vector, for NSP)"),
    (r"(cls\.)?predictions\.", "MLM head"),
    (r"(cls\.seq_relationship|^classifier)\.", "NSP head"),
)


def part_of(name: str) -> str:
    """Return the part of BERT a parameter belongs to, from its name (e.g. 'bert.encoder.layer.0.attention...')."""
    for pattern, part in PARTS:
        if re.search(pattern, name):
            return part
    return "other"


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Return {part: number of parameters}, in the order of PARTS; a tied weight is counted once, where it first is.

    `named_parameters` lists a shared tensor once: BERT's MLM output layer reuses the token embeddings.
    """
    counts: dict[str, int] = {}
    for name, param in model.named_parameters():
        part = part_of(name)
        counts[part] = counts.get(part, 0) + param.numel()
    order = [part for _, part in PARTS] + ["other"]
    return {part: counts[part] for part in order if part in counts}


def parameter_table(model: torch.nn.Module) -> str:
    """Return a table of the parameters per part of the model, with each part's share of the total."""
    counts = parameter_counts(model)
    total = sum(counts.values())
    lines = [f"{'part':<32}{'parameters':>12}{'share':>8}"]
    lines += [f"{part:<32}{n:>12,}{n / total:>8.1%}" for part, n in counts.items()]
    lines.append(f"{'total':<32}{total:>12,}{1:>8.0%}")
    return "\n".join(lines)


def module_tree(model: torch.nn.Module, max_depth: int = 6) -> str:
    """Return the model's modules as an indented tree, each with its parameter count.

    A list of identical layers shows its first layer in full and the others in one line; modules without parameters
    (dropout, activations) are left out. A module whose weight is shared with an earlier one (the MLM output layer
    reuses the token embeddings) says so instead of counting it again.
    """
    seen: set[int] = set()
    lines: list[str] = []

    def count(module: torch.nn.Module) -> tuple[int, bool]:
        new, shared = 0, False
        for param in module.parameters():
            if id(param) in seen:
                shared = True
            else:
                new += param.numel()
        return new, shared

    def walk(module: torch.nn.Module, name: str, depth: int) -> None:
        n, shared = count(module)
        note = " + a weight shared with the token embeddings (tied, not counted again)" if shared else ""
        lines.append(f"{'    ' * depth}{name} ({type(module).__name__}): {n:,}{note}")
        children = list(module.named_children())
        if depth < max_depth and isinstance(module, torch.nn.ModuleList) and len(children) > 1:
            walk(children[0][1], children[0][0], depth + 1)
            lines.append(f"{'    ' * (depth + 1)}1-{len(children) - 1}: {len(children) - 1} more layers like 0, "
                         f"{count(children[1][1])[0]:,} parameters each")
            for _, child in children:
                seen.update(id(p) for p in child.parameters())
            return
        if depth < max_depth:
            for child_name, child in children:
                if any(True for _ in child.parameters()):
                    walk(child, child_name, depth + 1)
        seen.update(id(p) for p in module.parameters())

    walk(model, type(model).__name__, 0)
    lines[0] = lines[0].split(" (", 1)[0] + ": " + lines[0].rsplit(": ", 1)[1]
    return "\n".join(lines)


def _box(ax, x: float, y: float, width: float, height: float, text: str, color: str, size: int = 9) -> None:
    """Draw a rounded box centred on (x, y) with `text` in it."""
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.02",
                                facecolor=color, edgecolor="#333333", linewidth=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=size)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="#333333"))


def draw_bert(config, example: str = "[CLS] very little is [MASK] [SEP]") -> Figure:
    """Return a drawing of BERT's architecture with the sizes of `config` (a BertConfig): bottom to top, as data flows.

    Tokens -> three embeddings added -> N identical encoder layers (self-attention, feed-forward) -> one vector
    per token -> the MLM head (a score per vocabulary entry at every position) and, from [CLS], the NSP head.
    """
    hidden, layers, heads = config.hidden_size, config.num_hidden_layers, config.num_attention_heads
    fig = plt.figure(figsize=(8, 7.6))  # through pyplot, so a notebook shows it like the kit's other plots
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set(xlim=(0, 10), ylim=(0, 11.1))
    ax.text(5, 10.75, f"BERT with this model's sizes: {layers} layers, vectors of {hidden} numbers", ha="center",
            fontsize=11, weight="bold")
    ax.axis("off")
    _box(ax, 5, 0.55, 6.4, 0.6,
         f"input: {example}\n(token ids from the tokenizer's {config.vocab_size:,}-entry vocabulary)", "#f2f2f2")
    _box(ax, 5, 1.85, 7.6, 0.95,
         f"embeddings: token ({config.vocab_size:,} x {hidden}) + position "
         f"({config.max_position_embeddings} x {hidden})\n+ segment ({config.type_vocab_size} x {hidden}), then "
         f"LayerNorm: one vector of {hidden} numbers per token",
         "#dbe9f6")
    # The encoder: a frame around one layer, drawn once and marked as repeated.
    ax.add_patch(FancyBboxPatch((1.2, 2.85), 7.6, 3.55, boxstyle="round,pad=0.05", facecolor="#fff7e6",
                                edgecolor="#b36b00", linewidth=1.5, linestyle="--"))
    ax.text(8.75, 6.2, f"x {layers} layers", ha="right", va="center", fontsize=11, color="#b36b00", weight="bold")
    _box(ax, 5, 3.55, 6.6, 0.8, f"self-attention: every token looks at every other token\n({heads} heads of "
         f"{hidden // heads} numbers each), then add the input back and LayerNorm", "#fde2c4")
    _box(ax, 5, 5.05, 6.6, 0.8, f"feed-forward, the same for every token: {hidden} -> "
         f"{config.intermediate_size} -> {hidden} numbers\n({config.hidden_act}), then add its input back and "
         "LayerNorm", "#fde2c4")
    _box(ax, 5, 7.05, 7.6, 0.6, f"output: one vector of {hidden} numbers per token, now carrying its context",
         "#dbe9f6")
    _box(ax, 3.2, 8.75, 4.6, 1.05, f"MLM head, at every position:\ndense + LayerNorm, then {hidden} -> "
         f"{config.vocab_size:,} scores\n(the output layer reuses the token embeddings)", "#d9f2d9", size=8)
    _box(ax, 7.85, 8.75, 3.1, 1.05, "NSP head, from [CLS] only:\npooler (dense + tanh),\nthen 2 scores:"
         " IsNext / NotNext", "#e8dcf5", size=8)
    ax.text(3.2, 10.05, "which token was hidden here? (lesson 01)", ha="center", fontsize=9, style="italic")
    ax.text(7.85, 10.05, "does B follow A? (lesson 02)", ha="center", fontsize=9, style="italic")
    for start, end in (((5, 0.85), (5, 1.37)), ((5, 2.33), (5, 3.15)), ((5, 3.95), (5, 4.65)),
                       ((5, 5.45), (5, 6.75)), ((3.2, 7.35), (3.2, 8.22)), ((7.85, 7.35), (7.85, 8.22))):
        _arrow(ax, start, end)
    return fig
