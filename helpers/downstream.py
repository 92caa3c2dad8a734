"""Did continued pre-training pay off? Score several models on one labelled task, the way papers do.

Each model (an *arm*) is scored with a linear probe on its frozen, mean-pooled features and, where asked, by
fine-tuning it whole, at several label budgets (examples per class) and over several seeds. A seed draws the
training examples and the classifier's start; every arm sees the same draws and the same test examples, so arms
can be compared pair by pair. `bootstrap_interval` turns the per-example results into a mean with a 95% interval.
"""

from __future__ import annotations

import copy
import csv
import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers import get_linear_schedule_with_warmup

from .corpus import CorpusError, read_text
from .training import make_optimizer, planned_steps

METHODS = ("probe", "finetune")


@dataclass(frozen=True)
class Interval:
    """A mean and its 95% interval."""

    mean: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class Task:
    """A labelled task split once: training texts to draw label budgets from, and a fixed test set."""

    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]
    classes: list[str]


@dataclass(frozen=True)
class Arm:
    """One model to score: its encoder (a BERT without heads) and its tokenizer."""

    encoder: torch.nn.Module
    tokenizer: object


def bootstrap_interval(values: np.ndarray, *, rounds: int = 2000, seed: int = 0,
                       confidence: float = 0.95) -> Interval:
    """Return the mean of a (seeds x test examples) array with a bootstrap interval over both.

    Two kinds of luck move a score: which training examples a seed drew (rows) and which examples the test set
    happens to hold (columns). Each round resamples rows and columns with replacement; the interval is the middle
    `confidence` share of the resampled means. For a difference of two arms, pass the per-example difference.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"values must be a non-empty (seeds x examples) array, got shape {values.shape}")
    rows, cols = values.shape
    rng = np.random.default_rng(seed)
    # How often each row and column is drawn in each round: the resampled mean is a weighted mean.
    row_counts = rng.multinomial(rows, np.full(rows, 1 / rows), size=rounds)
    col_counts = rng.multinomial(cols, np.full(cols, 1 / cols), size=rounds)
    means = np.einsum("br,rc,bc->b", row_counts, values, col_counts) / (rows * cols)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(values.mean()), float(low), float(high))


def sample_per_class(labels: Sequence[int], per_class: int, seed: int) -> list[int]:
    """Return the indices of `per_class` examples of each class, drawn at random with `seed`."""
    rng = random.Random(seed)
    chosen = []
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        if len(members) < per_class:
            raise ValueError(f"class {label} has {len(members)} training examples; {per_class} were asked for")
        chosen += rng.sample(members, per_class)
    return chosen


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Return the average of each text's token vectors, padding left out."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def _encode(tokenizer, texts: Sequence[str], max_length: int, device: torch.device) -> dict[str, torch.Tensor]:
    return tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)


@torch.no_grad()
def text_features(arm: Arm, texts: Sequence[str], *, max_length: int = 128, batch_size: int = 64) -> torch.Tensor:
    """Return one vector per text: the encoder's last layer, averaged over the text's tokens (float32, CPU)."""
    device = next(arm.encoder.parameters()).device
    arm.encoder.eval()
    out = []
    for start in range(0, len(texts), batch_size):
        batch = _encode(arm.tokenizer, texts[start:start + batch_size], max_length, device)
        out.append(mean_pool(arm.encoder(**batch).last_hidden_state, batch["attention_mask"]).float().cpu())
    return torch.cat(out)


def probe_correct(train_x: torch.Tensor, train_y: Sequence[int], test_x: torch.Tensor, test_y: Sequence[int],
                  *, l2: float = 1.0, iterations: int = 100) -> np.ndarray:
    """Fit a logistic regression on frozen features; return which test examples it gets right.

    Features are standardised with the training examples' mean and spread; the L2 penalty keeps a handful of
    examples in a few hundred dimensions from being fitted perfectly by chance. L-BFGS with a fixed number of
    iterations makes the fit deterministic.
    """
    mean, spread = train_x.mean(0), train_x.std(0, unbiased=False) + 1e-6
    a, b = (train_x - mean) / spread, (test_x - mean) / spread
    y = torch.as_tensor(list(train_y))
    classes = int(max(max(train_y), max(test_y))) + 1
    weight = torch.zeros(a.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(a @ weight + bias, y) + l2 * weight.pow(2).sum() / len(y)
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return ((b @ weight + bias).argmax(1) == torch.as_tensor(list(test_y))).numpy()


class MeanPoolClassifier(torch.nn.Module):
    """An encoder with one linear layer on its mean-pooled last layer: the probe's model, with the encoder free."""

    def __init__(self, encoder: torch.nn.Module, classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(encoder.config.hidden_size, classes)

    def forward(self, **batch: torch.Tensor) -> torch.Tensor:
        return self.head(mean_pool(self.encoder(**batch).last_hidden_state, batch["attention_mask"]))


@dataclass(frozen=True)
class FineTuning:
    """Fine-tuning settings, the same for every arm (BERT's paper: a few epochs, lr 2e-5 to 5e-5 for bert-base)."""

    lr: float = 5e-5
    epochs: int = 15
    batch_size: int = 8
    max_length: int = 128


def fine_tune_correct(arm: Arm, task: Task, chosen: Sequence[int], seed: int,
                      settings: FineTuning = FineTuning()) -> np.ndarray:
    """Fine-tune a copy of the arm's encoder with a new linear head on the chosen examples; return test hits.

    The arm itself is never changed. KIT_MAX_STEPS caps the steps, as it caps every training loop of the kit.
    """
    torch.manual_seed(seed)
    device = next(arm.encoder.parameters()).device
    model = MeanPoolClassifier(copy.deepcopy(arm.encoder), len(task.classes)).to(device)
    order = random.Random(seed)
    per_epoch = -(-len(chosen) // settings.batch_size)
    total = planned_steps(settings.epochs * per_epoch)
    optimizer = make_optimizer(model, settings.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * total), total)
    model.train()
    step = 0
    while step < total:
        shuffled = order.sample(list(chosen), len(chosen))
        for start in range(0, len(shuffled), settings.batch_size):
            if step == total:
                break
            picked = shuffled[start:start + settings.batch_size]
            batch = _encode(arm.tokenizer, [task.train_texts[i] for i in picked], settings.max_length, device)
            target = torch.tensor([task.train_labels[i] for i in picked], device=device)
            loss = F.cross_entropy(model(**batch), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
    model.eval()
    hits = []
    with torch.no_grad():
        for start in range(0, len(task.test_texts), 128):
            batch = _encode(arm.tokenizer, task.test_texts[start:start + 128], settings.max_length, device)
            hits.append(model(**batch).argmax(1).cpu() == torch.tensor(task.test_labels[start:start + 128]))
    return torch.cat(hits).numpy()


Results = dict[tuple[str, str, int], np.ndarray]  # (method, arm, per class) -> hits, seeds x test examples


def compare(arms: Mapping[str, Arm], task: Task, per_class: Sequence[int], seeds: int, methods: Sequence[str],
            *, first_seed: int = 0, max_length: int = 128, fine_tuning: FineTuning = FineTuning(),
            fine_tune_per_class: Sequence[int] | None = None, progress=None) -> Results:
    """Score every arm at every label budget for `seeds` seeds with each method; return the per-example hits.

    Seed s draws the same training examples for every arm, so arm differences can be read seed by seed. The probe
    runs at every budget; fine-tuning at `fine_tune_per_class` (default: every budget too). `progress`, if given,
    is called with a short description before each block of work.
    """
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"methods must be among {METHODS}, got {sorted(unknown)}")
    results: Results = {}
    draws = {k: [sample_per_class(task.train_labels, k, first_seed + s) for s in range(seeds)] for k in per_class}
    for name, arm in arms.items():
        if "probe" in methods:
            if progress:
                progress(f"{name}: features and probes")
            train_x = text_features(arm, task.train_texts, max_length=max_length)
            test_x = text_features(arm, task.test_texts, max_length=max_length)
            for k in per_class:
                results["probe", name, k] = np.stack([
                    probe_correct(train_x[chosen], [task.train_labels[i] for i in chosen], test_x, task.test_labels)
                    for chosen in draws[k]])
        if "finetune" in methods:
            for k in fine_tune_per_class or per_class:
                if progress:
                    progress(f"{name}: fine-tuning at {k} per class, {seeds} seeds")
                results["finetune", name, k] = np.stack([
                    fine_tune_correct(arm, task, chosen, first_seed + s, fine_tuning)
                    for s, chosen in enumerate(draws[k])])
    return results


def summarise(results: Results, pairs: Sequence[tuple[str, str]] = ()) -> tuple[list[dict], list[dict]]:
    """Return (one row per cell with mean/low/high accuracy, one row per (a, b) pair and cell: a minus b)."""
    rows = [{"model": arm, "method": method, "per_class": k, "seeds": len(hits),
             **vars(bootstrap_interval(hits))} for (method, arm, k), hits in results.items()]
    differences = []
    for a, b in pairs:
        for (method, arm, k), hits in results.items():
            if arm == a and (method, b, k) in results:
                gap = hits.astype(float) - results[method, b, k]
                differences.append({"a": a, "b": b, "method": method, "per_class": k,
                                    **vars(bootstrap_interval(gap))})
    return rows, differences


def _cell(row: Mapping | None) -> str:
    return str(Interval(row["mean"], row["low"], row["high"])) if row else ""


def results_table(rows: Sequence[Mapping], differences: Sequence[Mapping] = ()) -> str:
    """Return the rows as a readable table (one line per model and method, one column per label budget), then
    one line per difference."""
    budgets = sorted({r["per_class"] for r in rows})
    lines = [f"{'model':<28}{'method':<10}" + "".join(f"{f'{k} per class':>24}" for k in budgets)]
    for model, method in dict.fromkeys((r["model"], r["method"]) for r in rows):
        cells = {r["per_class"]: r for r in rows if (r["model"], r["method"]) == (model, method)}
        lines.append(f"{model[:27]:<28}{method:<10}" + "".join(f"{_cell(cells.get(k)):>24}" for k in budgets))
    for d in differences:
        lines.append(f"{d['a'][:24]} - {d['b'][:24]} ({d['method']}, {d['per_class']} per class): "
                     f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]")
    return "\n".join(lines)


def plot_budgets(rows: Sequence[Mapping], method: str = "probe", chance: float | None = None):
    """Return a figure of accuracy against examples per class: one line per model, its 95% interval as a band."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for model in dict.fromkeys(r["model"] for r in rows if r["method"] == method):
        cells = sorted((r for r in rows if r["model"] == model and r["method"] == method), key=lambda r: r["per_class"])
        budgets = [r["per_class"] for r in cells]
        line, = axes.plot(budgets, [r["mean"] for r in cells], marker="o", label=model)
        axes.fill_between(budgets, [r["low"] for r in cells], [r["high"] for r in cells], color=line.get_color(),
                          alpha=0.2)
    if chance is not None:
        axes.axhline(chance, color="grey", linestyle="--", label="chance")
    axes.set_xscale("log", base=2)
    axes.set_xticks(budgets, [str(b) for b in budgets])
    axes.set(xlabel="labelled examples per class", ylabel=f"test accuracy ({method})",
             title="Accuracy against label budget (bands: 95% intervals)")
    axes.legend()
    figure.tight_layout()
    return figure


# --- A labelled CSV file (scripts/downstream.py) --------------------------------------------------------------


class TaskError(ValueError):
    """A labelled file or budget that cannot be used; the message names the file or option and what to do."""


def read_labelled_csv(path: str | Path) -> tuple[list[str], list[str]]:
    """Return (texts, labels) from a UTF-8 CSV file whose header names a `text` and a `label` column."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise TaskError(f"{path} is empty: it needs a header line 'text,label' and one labelled example per line")
    try:
        content = read_text(path)
    except (OSError, CorpusError) as exc:
        raise TaskError(str(exc)) from None
    try:
        reader = csv.DictReader(io.StringIO(content))
        rows, header = list(reader), reader.fieldnames or []
    except csv.Error as exc:
        raise TaskError(f"{path} is not a readable CSV file ({exc}): save it as CSV with a header line") from None
    missing = [c for c in ("text", "label") if c not in header]
    if missing:
        raise TaskError(f"{path} has no {' and no '.join(repr(c) for c in missing)} column (its first line reads "
                        f"{','.join(header)!r}): the first line must name the columns, e.g. 'text,label'")
    texts, labels = [], []
    for line, row in enumerate(rows, start=2):
        text, label = (row.get("text") or "").strip(), (row.get("label") or "").strip()
        if not text or not label:
            raise TaskError(f"{path}, line {line}: empty {'text' if not text else 'label'}: fill it in or remove "
                            "the line")
        texts.append(text)
        labels.append(label)
    if not texts:
        raise TaskError(f"{path} has a header but no examples: add one labelled example per line")
    if len(set(labels)) < 2:
        raise TaskError(f"{path}: every example has the label {labels[0]!r}: a task needs at least two classes")
    return texts, labels


def split_task(texts: Sequence[str], labels: Sequence[str], test_fraction: float, seed: int) -> tuple[Task, int]:
    """Return (the task split into training pool and test set, how many rows repeat an earlier text).

    The split is drawn per class (each class keeps its share in the test set) from distinct texts, so a text that
    appears twice is never on both sides. Fixed by `seed`, whatever models are scored afterwards.
    """
    classes = sorted(set(labels))
    first_label = {}
    for text, label in zip(texts, labels):
        first_label.setdefault(text, label)
    rng = random.Random(seed)
    test_texts: set[str] = set()
    for label in classes:
        group = sorted(t for t, first in first_label.items() if first == label)
        if len(group) < 2:
            raise TaskError(f"class {label!r} has {len(group)} distinct text: it needs at least two, one to "
                            "train on and one to test")
        take = min(max(1, round(test_fraction * len(group))), len(group) - 1)
        test_texts.update(rng.sample(group, take))
    index = {label: i for i, label in enumerate(classes)}
    train = [(t, index[y]) for t, y in zip(texts, labels) if t not in test_texts]
    test = [(t, index[y]) for t, y in zip(texts, labels) if t in test_texts]
    task = Task([t for t, _ in train], [y for _, y in train], [t for t, _ in test], [y for _, y in test], classes)
    return task, len(texts) - len(first_label)


def check_budgets(task: Task, per_class: Sequence[int]) -> None:
    """Raise TaskError if a class has fewer training examples than the largest label budget asks for."""
    for i, label in enumerate(task.classes):
        have = task.train_labels.count(i)
        if have < max(per_class):
            raise TaskError(f"--per-class {max(per_class)}: class {label!r} has only {have} training examples "
                            "after the test split: lower --per-class or label more examples")
