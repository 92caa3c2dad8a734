"""helpers.plots: a far baseline does not squash the bars; held-out losses are drawn beside the training loss."""

import matplotlib

matplotlib.use("Agg")

from helpers.plots import plot_before_after, plot_losses  # noqa: E402


def test_a_far_baseline_is_written_not_drawn_so_the_bars_stay_readable():
    fig = plot_before_after({"perplexity": 116.0}, {"perplexity": 55.0}, ["perplexity"],
                            baselines={"perplexity": {"uniform guess: 8,000": 8000}})
    ax = fig.axes[0]
    assert ax.get_ylim()[1] < 200, "the axis follows the bars, not the baseline"
    assert not ax.get_lines(), "no line at 8,000"
    assert any("uniform guess: 8,000" in t.get_text() and "off the scale" in t.get_text() for t in ax.texts)


def test_a_near_baseline_is_still_drawn():
    fig = plot_before_after({"mlm_loss": 5.0}, {"mlm_loss": 4.0}, ["mlm_loss"],
                            baselines={"mlm_loss": {"uniform guess": 8.99}})
    ax = fig.axes[0]
    assert [line.get_ydata()[0] for line in ax.get_lines()] == [8.99]
    assert not [t for t in ax.texts if "off the scale" in t.get_text()]


def test_held_out_points_are_drawn_with_the_training_loss():
    history = [{"step": s, "loss": 5 - s / 10} for s in range(1, 21)]
    fig = plot_losses(history, ["loss"], held_out={"loss": [(0, 5.2), (10, 4.4), (20, 4.1)]})
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert list(lines["held-out"].get_xdata()) == [0, 10, 20]
    assert list(lines["held-out"].get_ydata()) == [5.2, 4.4, 4.1]
    assert "held-out" not in {line.get_label() for line in plot_losses(history).axes[0].get_lines()}
