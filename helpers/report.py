"""Held-out scores printed as one table, each metric beside the baseline it must beat."""

from __future__ import annotations

import math
from typing import Mapping

ROWS = {  # evaluate()'s key -> the row's label, in the order printed
    "masked_accuracy": "masked-token accuracy",
    "kept_accuracy": "kept-token accuracy",
    "perplexity": "perplexity",
    "mlm_loss": "MLM loss",
    "nsp_accuracy": "NSP accuracy (95% interval)",
    "nsp_loss": "NSP loss",
}


def baseline_notes(vocab_size: int | None = None, mlm_baseline: Mapping | None = None,
                   nsp_baselines: Mapping[str, float] | None = None) -> dict[str, str]:
    """Return, per metric, what a model that knows nothing scores (the text of the table's baseline column)."""
    notes = {"kept_accuracy": "1.000 copy the input", "nsp_loss": f"{math.log(2):.3f} coin flip (ln 2)"}
    if vocab_size:
        notes["perplexity"] = f"{vocab_size:,} uniform guess"
        notes["mlm_loss"] = f"{math.log(vocab_size):.2f} uniform guess (ln {vocab_size:,})"
    if mlm_baseline:
        notes["masked_accuracy"] = f"{mlm_baseline['accuracy']:.3f} always {mlm_baseline['token']!r}"
    if nsp_baselines:
        notes["nsp_accuracy"] = (f"{nsp_baselines['always_is_next']:.3f} always IsNext, "
                                 f"{nsp_baselines['always_not_next']:.3f} always NotNext")
    return notes


def _cell(scores: Mapping[str, float], metric: str) -> str:
    """Return one score as printed: 3 decimals, perplexity with 1, NSP accuracy with its interval."""
    value = scores[metric]
    if metric == "perplexity":
        return f"{value:,.1f}"
    if metric == "nsp_accuracy" and "nsp_accuracy_low" in scores:
        return f"{value:.3f} ({scores['nsp_accuracy_low']:.2f}-{scores['nsp_accuracy_high']:.2f})"
    return f"{value:.3f}"


def score_table(columns: Mapping[str, Mapping[str, float]], baselines: Mapping[str, str] | None = None) -> str:
    """Return a text table: one row per metric the first column has, one column per model, baselines last.

    `columns` maps a heading ('before', 'after', ...) to evaluate()'s scores; `baselines` comes from
    `baseline_notes`.
    """
    if not columns:
        raise ValueError("score_table needs at least one column of scores")
    first = next(iter(columns.values()))
    metrics = [m for m in ROWS if m in first]
    cells = {h: [_cell(s, m) for m in metrics] for h, s in columns.items()}
    notes = [(baselines or {}).get(m, "") for m in metrics]
    width = max(len(ROWS[m]) for m in metrics)
    widths = {h: max(len(h), *map(len, c)) for h, c in cells.items()}
    lines = ["  ".join([" " * width, *(h.rjust(widths[h]) for h in cells), "baseline" if any(notes) else ""]).rstrip()]
    for i, metric in enumerate(metrics):
        row = [ROWS[metric].ljust(width), *(cells[h][i].rjust(widths[h]) for h in cells), notes[i]]
        lines.append("  ".join(row).rstrip())
    return "\n".join(lines)
