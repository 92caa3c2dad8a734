"""Loss curves (raw and smoothed, live during training) and before/after bar charts, with matplotlib."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

LOSS_LABELS = {"loss": "loss", "mlm": "MLM loss", "nsp": "NSP loss"}
METRIC_LABELS = {"masked_accuracy": "masked-token accuracy", "perplexity": "perplexity (lower is better)",
                 "nsp_accuracy": "NSP accuracy", "mlm_loss": "MLM loss", "nsp_loss": "NSP loss"}


def smooth(values: Sequence[float], weight: float = 0.9) -> list[float]:
    """Return the exponential moving average of `values`, bias-corrected so the first points are not pulled to 0."""
    smoothed, average = [], 0.0
    for i, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        smoothed.append(average / (1 - weight**i))
    return smoothed


Baselines = Mapping[str, Mapping[str, float]]  # loss key -> {label: value}, drawn as dashed lines


def loss_baselines(vocab_size: int) -> dict[str, dict[str, float]]:
    """Return the losses of guessing blindly: ln(vocabulary size) for MLM, ln 2 for NSP."""
    mlm = {f"uniform guess: ln {vocab_size:,} = {math.log(vocab_size):.2f}": math.log(vocab_size)}
    nsp = {f"coin flip: ln 2 = {math.log(2):.3f}": math.log(2)}
    return {"mlm": mlm, "loss": mlm, "nsp": nsp}


HeldOut = Mapping[str, Sequence[tuple[float, float]]]  # loss key -> [(step, held-out loss)], e.g. one per epoch


def draw_losses(axes: Sequence[plt.Axes], history: Sequence[Mapping[str, float]], keys: Sequence[str],
                baselines: Baselines | None = None, held_out: HeldOut | None = None) -> None:
    """Draw each loss in `keys` on its own axes: the raw values faint, the smoothed curve on top, baselines dashed.

    `held_out` adds, per key, the loss on held-out text at a few steps (a line with markers): a training loss that
    keeps falling while this one rises is the sign of overfitting.
    """
    steps = [h["step"] for h in history]
    for ax, key in zip(axes, keys):
        ax.clear()
        values = [h[key] for h in history]
        ax.plot(steps, values, alpha=0.3, color="tab:blue", label="per step")
        ax.plot(steps, smooth(values), color="tab:blue", linewidth=2, label="smoothed")
        points = (held_out or {}).get(key, [])
        if points:
            ax.plot(*zip(*points), marker="o", color="#009E73", linewidth=2, label="held-out")
        for (label, value), style in zip((baselines or {}).get(key, {}).items(), ("--", ":")):
            ax.axhline(value, color="#D55E00", linestyle=style, label=label)
        ax.set(title=LOSS_LABELS.get(key, key), xlabel="training step", ylabel="loss")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right")


def plot_losses(history: Sequence[Mapping[str, float]], keys: Sequence[str] = ("loss",),
                baselines: Baselines | None = None, held_out: HeldOut | None = None) -> Figure:
    """Return a figure with one panel per loss in `keys` (e.g. 'mlm' and 'nsp' apart), baselines dashed."""
    fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 3.5), squeeze=False)
    draw_losses(axes[0], history, keys, baselines, held_out)
    fig.tight_layout()
    return fig


class LivePlot:
    """A loss plot that redraws itself in the notebook while training runs: pass it as `train(callback=...)`."""

    def __init__(self, keys: Sequence[str] = ("loss",), baselines: Baselines | None = None):
        from IPython.display import display

        self.keys, self.baselines = tuple(keys), baselines
        self.fig, axes = plt.subplots(1, len(self.keys), figsize=(5.5 * len(self.keys), 3.5), squeeze=False)
        self.axes = axes[0]
        plt.close(self.fig)  # shown through the display handle only, not a second time when the cell ends
        self.handle = display(self.fig, display_id=True)

    def __call__(self, history: Sequence[Mapping[str, float]], held_out: HeldOut | None = None) -> None:
        draw_losses(self.axes, history, self.keys, self.baselines, held_out)
        self.fig.tight_layout()
        if self.handle is not None:
            self.handle.update(self.fig)


# A baseline more than this many times the tallest bar is written on the chart, not drawn: a line at 8,000 would
# squeeze bars of 116 and 55 into the same sliver.
OFF_SCALE = 3


def plot_before_after(before: Mapping[str, float], after: Mapping[str, float],
                      metrics: Sequence[str] = ("masked_accuracy", "perplexity"),
                      baselines: Baselines | None = None) -> Figure:
    """Return a bar chart, one panel per metric, before vs after training, baselines dashed; accuracies on 0..1.

    A baseline far above the bars of a metric without a fixed scale (a perplexity of 8,000 beside 116 and 55) is
    written at the top of its panel instead of drawn, so the bars keep a readable scale.
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.8 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        values = [before[metric], after[metric]]
        bars = ax.bar(["before", "after"], values, color=["#9e9e9e", "#1f77b4"], hatch=["//", ""])
        ax.bar_label(bars, fmt="%.3g")
        fixed_scale = "accuracy" in metric
        off_scale = []
        for (label, value), style in zip((baselines or {}).get(metric, {}).items(), ("--", ":")):
            if not fixed_scale and value > OFF_SCALE * max(values):
                off_scale.append(label)
            else:
                ax.axhline(value, color="#D55E00", linestyle=style, label=label)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=8)
        ax.set_title(METRIC_LABELS.get(metric, metric))
        if fixed_scale:
            ax.set_ylim(0, 1)  # the whole scale: 0.06 must look small
        else:
            # Room above the bars for the legend or the off-scale note, so neither covers a bar's value.
            ax.margins(y=0.35 if off_scale or ax.get_legend() else 0.15)
        if off_scale:
            ax.text(0.5, 0.97, "\n".join(f"{label}: far above, off the scale" for label in off_scale),
                    transform=ax.transAxes, ha="center", va="top", fontsize=8, color="#D55E00")
    fig.tight_layout()
    return fig


def plot_length_histogram(lengths: Sequence[int], max_length: int) -> Figure:
    """Return a histogram of paragraph lengths in tokens, with the model's maximum length marked."""
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist(lengths, bins=40, color="#0072B2")
    ax.axvline(max_length - 2, color="#D55E00", linestyle="--",
               label=f"max_length - 2 = {max_length - 2}: longer ones are chunked")
    ax.set(xlabel="tokens per paragraph", ylabel="paragraphs", title="How long are the paragraphs?")
    ax.legend()
    fig.tight_layout()
    return fig
