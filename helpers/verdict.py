"""Did it pay off? Intervals that count every kind of luck, and the verdict read from them.

A score on a small task moves with three kinds of luck: which continued pre-training *run* an arm is (its seed
picks the masks, the batches, the dropout), which labelled examples a *seed* drew, and which *test groups* the test
set happens to hold (a sentence and its shuffled twin are one group). Results are arrays of hits shaped
(runs, seeds, test examples); every arm sees the same seeds' draws and the same test examples, so the seed and
test levels are paired between arms, while runs are trained apart and are not.

`interval` estimates the variance each level adds to a mean (or to a difference of two arms' means) from the
spread between that level's units, adds them up, and turns the sum into a t interval whose degrees of freedom
follow from how many units each level has (Welch-Satterthwaite). With three runs an arm, the run level is known
only roughly, and the t quantile widens the interval for it, as a t-test does for a small sample; a percentile
bootstrap over three units would cover the truth far less often than it claims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import PurePath
from statistics import NormalDist
from typing import Mapping, Sequence

import numpy as np

LEVELS = ("runs", "seeds", "test groups")


@dataclass(frozen=True)
class Interval:
    """A mean and its interval; `df` are the degrees of freedom of the t quantile used (inf: a normal one)."""

    mean: float
    low: float
    high: float
    df: float = math.inf
    left_out: tuple[str, ...] = field(default=())  # levels with one unit: their luck is not in the interval

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"

    def signed(self) -> str:
        """Return the interval with signs, as a difference is printed: +0.021 [-0.004, +0.046]."""
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


def as_runs(hits: np.ndarray) -> np.ndarray:
    """Return hits as a (runs, seeds, test examples) float array; a (seeds, test examples) array is one run."""
    hits = np.asarray(hits, dtype=float)
    if hits.ndim == 2:
        hits = hits[None]
    if hits.ndim != 3 or hits.size == 0:
        raise ValueError(f"hits must be a non-empty (runs x seeds x test examples) array, got shape {hits.shape}")
    return hits


def _group_index(groups: Sequence[int] | None, examples: int) -> np.ndarray:
    if groups is None:
        return np.arange(examples)
    if len(groups) != examples:
        raise ValueError(f"groups has {len(groups)} entries for {examples} test examples")
    return np.unique(np.asarray(groups), return_inverse=True)[1]


def luck(a: np.ndarray, b: np.ndarray | None = None, groups: Sequence[int] | None = None
         ) -> dict[str, tuple[float, float]]:
    """Return, per level, (the variance its luck adds to the mean of `a` or to mean(a) - mean(b), its df).

    runs: the spread of each arm's run means (an arm with one run counts as fixed: the starting model is);
    seeds: the spread of the per-seed means (of the per-seed differences, for two arms: the draws are shared);
    test groups: the spread of the per-group sums, each group one unit (a cluster), since the groups are shared.
    A level with a single unit cannot show its spread and is missing from the result.
    """
    arms = [as_runs(a)] + ([] if b is None else [as_runs(b)])
    if len(arms) == 2 and arms[0].shape[1:] != arms[1].shape[1:]:
        raise ValueError(f"the two arms need the same seeds and test examples, got {arms[0].shape} and {arms[1].shape}")
    sign = [1.0, -1.0]
    out: dict[str, tuple[float, float]] = {}
    run_parts = [(x.mean(axis=(1, 2)).var(ddof=1) / len(x), len(x) - 1.0) for x in arms if len(x) > 1]
    if run_parts:
        variance = sum(v for v, _ in run_parts)
        out["runs"] = (variance, _satterthwaite(run_parts) if variance > 0 else math.inf)
    per_seed = sum(s * x.mean(axis=(0, 2)) for s, x in zip(sign, arms))
    if len(per_seed) > 1:
        out["seeds"] = (per_seed.var(ddof=1) / len(per_seed), len(per_seed) - 1.0)
    per_example = sum(s * x.mean(axis=(0, 1)) for s, x in zip(sign, arms))
    index = _group_index(groups, len(per_example))
    sums, sizes = np.bincount(index, per_example), np.bincount(index).astype(float)
    if len(sums) > 1:
        mean = sums.sum() / sizes.sum()
        # The variance of a ratio of sums over clusters (groups of any size); singletons give var / n.
        variance = len(sums) / (len(sums) - 1) * ((sums - mean * sizes) ** 2).sum() / sizes.sum() ** 2
        out["test groups"] = (variance, len(sums) - 1.0)
    return out


def _satterthwaite(parts: Sequence[tuple[float, float]]) -> float:
    """Return the degrees of freedom of a sum of variances, each with its own (Welch-Satterthwaite)."""
    total = sum(v for v, _ in parts)
    spread = sum(v * v / df for v, df in parts if v > 0)
    return total * total / spread if spread > 0 else math.inf


def t_quantile(p: float, df: float) -> float:
    """Return the p-quantile (p > 0.5) of Student's t with `df` degrees of freedom (any df > 0; inf: normal)."""
    z = NormalDist().inv_cdf(p)
    if math.isinf(df) or df > 1e6:
        return z
    # The t density integrated from 0 by Simpson's rule on a fine grid, then the quantile by bisection.
    const = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def cdf(x: float) -> float:
        grid = np.linspace(0.0, x, 4001)
        density = const * (1 + grid ** 2 / df) ** (-(df + 1) / 2)
        return 0.5 + (x / 4000 / 3) * (density[0] + density[-1] + 4 * density[1:-1:2].sum() + 2 * density[2:-1:2].sum())

    low, high = z, z * 2
    while cdf(high) < p:
        low, high = high, high * 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < p else (low, middle)
    return (low + high) / 2


def interval(a: np.ndarray, b: np.ndarray | None = None, groups: Sequence[int] | None = None,
             confidence: float = 0.95, bounds: tuple[float, float] | None = None) -> Interval:
    """Return the mean of `a` (or mean(a) - mean(b)) with a t interval that counts the luck of every level.

    `a`, `b`: hits (or any per-example scores) shaped (runs, seeds, test examples) or (seeds, test examples);
    `groups`: one id per test example, examples with one id count as one unit (default: each its own);
    `bounds`: where the true value must lie (an accuracy in [0, 1]): the interval is cut there.
    """
    parts = luck(a, b, groups)
    mean = float(as_runs(a).mean() - (0.0 if b is None else as_runs(b).mean()))
    variance = sum(v for v, _ in parts.values())
    left_out = tuple(level for level in LEVELS if level not in parts)
    if variance <= 0:
        return Interval(mean, mean, mean, math.inf, left_out)
    df = _satterthwaite(list(parts.values()))
    half = t_quantile(1 - (1 - confidence) / 2, df) * math.sqrt(variance)
    low, high = bounds or (-math.inf, math.inf)
    return Interval(mean, max(low, mean - half), min(high, mean + half), df, left_out)


# --- What is scored: accuracy, balanced accuracy, the majority-class rate -----------------------------------


def majority_rate(labels: Sequence[int]) -> float:
    """Return the accuracy of always answering the most frequent class of `labels`."""
    counts = np.bincount(np.asarray(labels))
    return float(counts.max() / counts.sum())


def balanced_hits(hits: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Return hits reweighted per test example so that their plain mean is the balanced accuracy.

    Balanced accuracy is the mean over classes of each class's accuracy: an example of a class with n of the N
    test examples, among C classes, weighs N / (C n). On a balanced test set the weights are all 1.
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels)
    present = counts > 0
    weight = len(labels) / (present.sum() * counts[labels])
    return np.asarray(hits, dtype=float) * weight


def is_balanced(labels: Sequence[int]) -> bool:
    """Return True when every class has the same number of test examples (accuracy = balanced accuracy)."""
    counts = np.bincount(np.asarray(labels))
    return len(set(counts[counts > 0].tolist())) == 1


# --- The verdict and the names it uses ---------------------------------------------------------------------


def verdict(gap: Interval, a: str, b: str) -> str:
    """Return the plain-words reading of the difference a - b and its interval."""
    if gap.low > 0:
        return f"{a} beats {b}: the whole interval is above 0"
    if gap.high < 0:
        return f"{b} beats {a}: the whole interval is below 0"
    return f"no difference we can tell between {a} and {b}: the interval holds 0"


def short_names(names: Sequence[str]) -> list[str]:
    """Return a short name per model path: its last folders, as few as keep every name apart.

    `runs/austen-control/model` and `runs/meditations/model` print as `austen-control/model` and
    `meditations/model`; a Hub name such as `bert-base-uncased` stays as it is. Never cut inside a name, so two
    models never print alike.
    """
    parts = [PurePath(n.rstrip("/")).parts or (n,) for n in names]
    # A run's model folder is called model: its run folder is the name a reader knows it by.
    keep = [2 if p[-1] in ("model", "final") and len(p) > 1 else 1 for p in parts]
    while True:
        short = ["/".join(p[-k:]) for p, k in zip(parts, keep)]
        clashes = {s for s in short if short.count(s) > 1}
        if not clashes:
            return short
        grown = [k + 1 if s in clashes and k < len(p) else k for s, p, k in zip(short, parts, keep)]
        if grown == keep:  # the same path given twice: nothing tells them apart
            raise ValueError(f"two models have the same name: {sorted(clashes)}")
        keep = grown


# --- Tables of results (lesson 05, scripts/downstream.py, scripts/payoff.py) ----------------------------------


def _row(values: np.ndarray, labels: Sequence[int], groups: Sequence[int] | None,
         other: np.ndarray | None = None) -> dict:
    """Return accuracy and balanced accuracy (of values, or of values - other) with their intervals, flat."""
    bounds = (0.0, 1.0) if other is None else (-1.0, 1.0)
    plain = interval(values, other, groups, bounds=bounds)
    balanced = interval(balanced_hits(as_runs(values), labels),
                        None if other is None else balanced_hits(as_runs(other), labels), groups, bounds=bounds)
    return {"mean": plain.mean, "low": plain.low, "high": plain.high, "df": plain.df,
            "balanced_mean": balanced.mean, "balanced_low": balanced.low, "balanced_high": balanced.high,
            "left_out": list(plain.left_out)}


def summarise(results: Mapping[tuple[str, str, int], np.ndarray], task, pairs: Sequence[tuple[str, str]] = (),
              primary: tuple[str, str] | None = None) -> tuple[list[dict], list[dict]]:
    """Return (one row per method, model and budget; one row per (a, b) pair, method and budget: a minus b).

    `results` is `helpers.downstream.compare`'s; `task` gives the test labels and groups. Every row holds accuracy
    (mean, low, high) and balanced accuracy (balanced_mean, ...) with 95% intervals. A difference also holds
    `score` (balanced accuracy when the test set's classes are unequal, else accuracy), the `verdict` read from
    that score's interval, and `primary`: True for the pair that answers the question (default: the first pair);
    the others are exploratory.
    """
    labels, groups = task.test_labels, task.test_groups
    rows = [{"model": arm, "method": method, "per_class": k, "runs": as_runs(hits).shape[0],
             "seeds": as_runs(hits).shape[1], **_row(hits, labels, groups)}
            for (method, arm, k), hits in results.items()]
    primary = primary or (tuple(pairs[0]) if pairs else None)
    score = "accuracy" if is_balanced(labels) else "balanced accuracy"
    differences = []
    for a, b in pairs:
        for (method, arm, k), hits in results.items():
            if arm == a and (method, b, k) in results:
                row = _row(hits, labels, groups, results[method, b, k])
                prefix = "" if score == "accuracy" else "balanced_"
                gap = Interval(row[prefix + "mean"], row[prefix + "low"], row[prefix + "high"])
                differences.append({"a": a, "b": b, "method": method, "per_class": k, **row, "score": score,
                                    "verdict": verdict(gap, a, b), "primary": (a, b) == primary})
    return rows, differences


def _cell(row: Mapping | None, prefix: str = "") -> str:
    return str(Interval(row[prefix + "mean"], row[prefix + "low"], row[prefix + "high"])) if row else ""


def results_table(rows: Sequence[Mapping], differences: Sequence[Mapping] = (), balanced: bool = False) -> str:
    """Return the rows as a table (one line per model and method, one column per label budget), then one line
    per difference, named by its models ('adapted - control'), the primary one marked, the others exploratory.

    `balanced`: add a line of balanced accuracy under each model's accuracy (for a test set with unequal classes).
    """
    budgets = sorted({r["per_class"] for r in rows})
    width = max([28, *(len(r["model"]) + 2 for r in rows)])
    lines = [f"{'model':<{width}}{'method':<10}" + "".join(f"{f'{k} per class':>24}" for k in budgets)]
    for model, method in dict.fromkeys((r["model"], r["method"]) for r in rows):
        cells = {r["per_class"]: r for r in rows if (r["model"], r["method"]) == (model, method)}
        lines.append(f"{model:<{width}}{method:<10}" + "".join(f"{_cell(cells.get(k)):>24}" for k in budgets))
        if balanced:
            lines.append(f"{'  balanced accuracy':<{width}}{'':<10}"
                         + "".join(f"{_cell(cells.get(k), 'balanced_'):>24}" for k in budgets))
    for d in differences:
        prefix = "balanced_" if d.get("score") == "balanced accuracy" else ""
        gap = Interval(d[prefix + "mean"], d[prefix + "low"], d[prefix + "high"])
        mark = "" if "primary" not in d else ("   <- primary" if d["primary"] else "   (exploratory)")
        lines.append(f"{d['a']} - {d['b']} ({d['method']}, {d['per_class']} per class"
                     f"{', balanced accuracy' if prefix else ''}): {gap.signed()}{mark}")
    return "\n".join(lines)


def verdict_lines(differences: Sequence[Mapping]) -> list[str]:
    """Return one line per budget and method of the primary comparison: the difference, its interval, the verdict."""
    out = []
    for d in differences:
        if d.get("primary"):
            prefix = "balanced_" if d["score"] == "balanced accuracy" else ""
            gap = Interval(d[prefix + "mean"], d[prefix + "low"], d[prefix + "high"])
            out.append(f"verdict ({d['method']}, {d['per_class']} per class, {d['score']}): {d['a']} - {d['b']} = "
                       f"{gap.signed()}: {d['verdict']}")
    return out
