"""Did continued pre-training pay off? Score several models on one labelled task, the way papers do.

Each model (an *arm*) is scored with a linear probe on its frozen, mean-pooled features and, where asked, by
fine-tuning it whole, at several label budgets (examples per class) and over several seeds. A seed draws the
training examples and the classifier's start; every arm sees the same draws and the same test examples, so arms
can be compared pair by pair. An arm may be several continued pre-training runs of one recipe: each is scored,
and `helpers.verdict` counts the luck of the run in the intervals.
"""

from __future__ import annotations

import copy
import csv
import difflib
import io
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import LambdaLR

from .corpus import CorpusError, read_text
from .training import make_optimizer, pick_device, planned_steps

METHODS = ("probe", "finetune")


@dataclass(frozen=True)
class Task:
    """A labelled task split once: training texts to draw label budgets from, and a fixed test set.

    `test_groups` gives each test example a group id: examples that belong together (a sentence and its shuffled
    twin) share one and count as one unit in the intervals. None: every test example is its own group.
    """

    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]
    classes: list[str]
    test_groups: list[int] | None = None


@dataclass(frozen=True)
class Arm:
    """One model to score: its encoder (a BERT without heads) and its tokenizer (one run of an arm's recipe)."""

    encoder: torch.nn.Module
    tokenizer: object


def load_arm(name: str | Path, device: torch.device | None = None) -> Arm:
    """Return the encoder (in float32, whatever its files hold, on `device`: default the GPU if there is one, else the
    CPU) and the tokenizer of a model folder or Hub name."""
    from transformers import AutoModel, AutoTokenizer

    from .models import quiet_transformers

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(str(name))
        encoder = AutoModel.from_pretrained(str(name), dtype=torch.float32)
    return Arm(encoder.to(device or pick_device()).eval(), tokenizer)


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


def warmup_then_decay(optimizer: torch.optim.Optimizer, total: int, warmup_fraction: float = 0.1) -> LambdaLR:
    """Return a schedule that rises linearly over the first tenth of `total` steps, then falls linearly.

    Step i (from 0) runs at (i + 1) / warmup of the peak while warming up, then at (total - i) / (total - warmup):
    no step runs at learning rate 0, not even the first or the last (transformers' linear schedule gives the
    first step 0, which is one step in ten of a ten-step fine-tuning).
    """
    warmup = min(max(1, round(warmup_fraction * total)), total)

    def factor(i: int) -> float:
        return (i + 1) / warmup if i < warmup else (total - i) / max(1, total - warmup)

    return LambdaLR(optimizer, factor)


def fine_tune_correct(arm: Arm, task: Task, chosen: Sequence[int], seed: int,
                      settings: FineTuning = FineTuning()) -> np.ndarray:
    """Fine-tune a copy of the arm's encoder with a new linear head on the chosen examples; return test hits.

    The arm itself is never changed. KIT_MAX_STEPS caps the steps, as it caps every training loop of the kit.
    """
    torch.manual_seed(seed)
    device = next(arm.encoder.parameters()).device
    model = MeanPoolClassifier(copy.deepcopy(arm.encoder), len(task.classes)).to(device)
    order = random.Random(seed)
    per_epoch = math.ceil(len(chosen) / settings.batch_size)
    total = planned_steps(settings.epochs * per_epoch)
    optimizer = make_optimizer(model, settings.lr)
    scheduler = warmup_then_decay(optimizer, total)
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


Results = dict[tuple[str, str, int], np.ndarray]  # (method, arm, per class) -> hits, runs x seeds x test examples


def compare(arms: Mapping[str, Arm | Sequence[Arm | str | Path]], task: Task, per_class: Sequence[int], seeds: int,
            methods: Sequence[str], *, first_seed: int = 0, max_length: int = 128,
            fine_tuning: FineTuning = FineTuning(), fine_tune_per_class: Sequence[int] | None = None,
            progress=None) -> Results:
    """Score every arm at every label budget for `seeds` seeds with each method; return the per-example hits.

    An arm is one model or a list of runs of one recipe (e.g. continued pre-training with seeds 0, 1, 2); each
    run is scored alike and the hits are stacked as (runs, seeds, test examples). A run given as a folder (a saved
    model) is loaded when its turn comes and let go after it: one bert-base is 0.4 GiB, and an experiment's runs
    together would not fit a laptop's memory. Seed s draws the same training
    examples for every arm and run, so arm differences can be read seed by seed. The probe runs at every budget;
    fine-tuning at `fine_tune_per_class` (default: every budget too). `progress`, if given, is called with a
    short description before each block of work.
    """
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"methods must be among {METHODS}, got {sorted(unknown)}")
    tune_budgets = list(per_class if fine_tune_per_class is None else fine_tune_per_class)
    draws = {k: [sample_per_class(task.train_labels, k, first_seed + s) for s in range(seeds)]
             for k in dict.fromkeys([*per_class, *tune_budgets])}
    runs = {name: [arm] if isinstance(arm, Arm) else list(arm) for name, arm in arms.items()}
    hits: dict[tuple[str, str, int], list[np.ndarray]] = {}
    for name, members in runs.items():
        for r, member in enumerate(members):
            run = f"{name}, run {r + 1} of {len(members)}" if len(members) > 1 else name
            arm = member if isinstance(member, Arm) else load_arm(member)
            if "probe" in methods:
                if progress:
                    progress(f"{run}: features and probes")
                train_x = text_features(arm, task.train_texts, max_length=max_length)
                test_x = text_features(arm, task.test_texts, max_length=max_length)
                for k in per_class:
                    hits.setdefault(("probe", name, k), []).append(np.stack([
                        probe_correct(train_x[chosen], [task.train_labels[i] for i in chosen], test_x,
                                      task.test_labels) for chosen in draws[k]]))
            if "finetune" in methods:
                for k in tune_budgets:
                    if progress:
                        progress(f"{run}: fine-tuning at {k} per class, {seeds} seeds")
                    hits.setdefault(("finetune", name, k), []).append(np.stack([
                        fine_tune_correct(arm, task, chosen, first_seed + s, fine_tuning)
                        for s, chosen in enumerate(draws[k])]))
    return {key: np.stack(per_run) for key, per_run in hits.items()}


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


def plot_gaps(differences: Sequence[Mapping], method: str = "probe"):
    """Return a figure of each difference (a - b) against examples per class, with its 95% interval as a bar.

    The arms' own bands overlap at every budget and invite "no difference"; the verdict is read from these bars:
    a bar wholly above (or below) the dashed line at 0 is a difference the interval can tell from luck.
    """
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.5))
    pairs = list(dict.fromkeys((d["a"], d["b"]) for d in differences if d["method"] == method))
    for i, (a, b) in enumerate(pairs):
        cells = sorted((d for d in differences if (d["a"], d["b"], d["method"]) == (a, b, method)),
                       key=lambda d: d["per_class"])
        budgets = [d["per_class"] * 2 ** (0.08 * (i - (len(pairs) - 1) / 2)) for d in cells]  # side by side
        means = np.array([d["mean"] for d in cells])
        bars = [means - [d["low"] for d in cells], [d["high"] for d in cells] - means]
        axes.errorbar(budgets, means, yerr=bars, marker="o", capsize=4, linestyle="none", label=f"{a} - {b}")
    axes.axhline(0, color="grey", linestyle="--")
    axes.set_xscale("log", base=2)
    ticks = sorted({d["per_class"] for d in differences if d["method"] == method})
    axes.set_xticks(ticks, [str(k) for k in ticks])
    axes.set(xlabel="labelled examples per class", ylabel=f"difference in accuracy ({method})",
             title="Differences between arms (bars: 95% intervals)")
    axes.legend()
    figure.tight_layout()
    return figure


# --- A labelled CSV file (scripts/downstream.py) --------------------------------------------------------------


class TaskError(ValueError):
    """A labelled file or budget that cannot be used; the message names the file or option and what to do."""


class LabelledRows(NamedTuple):
    """A labelled CSV file's rows: texts, labels, and each row's group (None when the file has no group column)."""

    texts: list[str]
    labels: list[str]
    groups: list[str] | None


def read_labelled_csv(path: str | Path, group_column: str | None = None) -> LabelledRows:
    """Return the texts, labels (and groups) of a UTF-8 CSV file whose header names a `text` and a `label` column.

    A text given twice with two different labels is refused with both line numbers: one of them is a mistake.
    """
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
    separator = other_separator(content.split("\n", 1)[0])
    if separator:
        raise TaskError(f"{path} separates its columns with {separator}, not commas: save it as comma-separated "
                        "CSV (in a spreadsheet: Save as, CSV UTF-8)")
    columns = {name.strip().lower(): name for name in header}  # 'Text,Label' names the same columns as 'text,label'
    wanted = ["text", "label"] + ([group_column] if group_column else [])
    missing = [c for c in wanted if c.lower() not in columns]
    if missing:
        raise TaskError(f"{path} has no {' and no '.join(repr(c) for c in missing)} column (its first line reads "
                        f"{','.join(header)!r}): the first line must name the columns, e.g. 'text,label'")
    text_key, label_key = columns["text"], columns["label"]
    group_key = columns[group_column.lower()] if group_column else None
    texts, labels, groups, first_line = [], [], [], {}
    for line, row in enumerate(rows, start=2):
        text, label = (row.get(text_key) or "").strip(), (row.get(label_key) or "").strip()
        if not text or not label:
            raise TaskError(f"{path}, line {line}: empty {'text' if not text else 'label'}: fill it in or remove "
                            "the line")
        if text in first_line and labels[first_line[text] - 2] != label:
            raise TaskError(f"{path}, lines {first_line[text]} and {line}: the same text has the labels "
                            f"{labels[first_line[text] - 2]!r} and {label!r}: keep the right one")
        first_line.setdefault(text, line)
        texts.append(text)
        labels.append(label)
        groups.append((row.get(group_key) or "").strip() if group_key else "")
    if not texts:
        raise TaskError(f"{path} has a header but no examples: add one labelled example per line")
    if len(set(labels)) < 2:
        raise TaskError(f"{path}: every example has the label {labels[0]!r}: a task needs at least two classes")
    for rare, common in possible_typos(labels):
        lines = [str(i) for i, label in enumerate(labels, start=2) if label == rare]
        raise TaskError(f"{path}, line{'s' * (len(lines) > 1)} {', '.join(lines)}: the label {rare!r} has "
                        f"{len(lines)} example{'s' * (len(lines) > 1)} and looks like {common!r} "
                        f"({labels.count(common)} examples): a typo? Correct it, or remove the line")
    return LabelledRows(texts, labels, groups if group_column else None)


def other_separator(header_line: str) -> str | None:
    """Return the name of the separator a header line uses instead of commas (semicolons, tabs, bars), or None."""
    if "," in header_line:
        return None
    names = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}
    return next((name for mark, name in names.items() if mark in header_line), None)


def possible_typos(labels: Sequence[str]) -> list[tuple[str, str]]:
    """Return (rare label, the common label it resembles) for each class with very few examples (under 5, and a
    quarter or less of the other's) whose name is close to a larger class's: most likely a mistyped label."""
    counts = {label: labels.count(label) for label in set(labels)}
    found = []
    for rare, n in sorted(counts.items()):
        larger = {other.lower(): other for other, m in counts.items() if other != rare and n < 5 and 4 * n <= m}
        close = difflib.get_close_matches(rare.lower(), list(larger), n=1, cutoff=0.75)
        if close:
            found.append((rare, larger[close[0]]))
    return found


def split_task(texts: Sequence[str], labels: Sequence[str], test_fraction: float, seed: int,
               groups: Sequence[str] | None = None) -> tuple[Task, int]:
    """Return (the task split into training pool and test set, how many rows repeat an earlier text).

    Each distinct text is kept once, on one side: a repeated text is never drawn twice into one budget nor counted
    twice in the test set. Without `groups` the split is drawn per class (each class keeps its share in the test
    set); with them, whole groups go to one side and the test set's groups are the units of its intervals. Fixed
    by `seed`, whatever models are scored afterwards.
    """
    first: dict[str, tuple[str, str | None]] = {}  # text -> (label, group) of its first row
    for i, (text, label) in enumerate(zip(texts, labels)):
        if text in first and first[text][0] != label:
            raise TaskError(f"the text {text[:60]!r} has two labels, {first[text][0]!r} and {label!r}: keep one")
        first.setdefault(text, (label, None if groups is None else groups[i]))
    classes = sorted(set(labels))
    rng = random.Random(seed)
    if groups is None:
        test_texts: set[str] = set()
        for label in classes:
            members = sorted(t for t, (y, _) in first.items() if y == label)
            if len(members) < 2:
                raise TaskError(f"class {label!r} has {len(members)} distinct text: it needs at least two, one to "
                                "train on and one to test")
            test_texts.update(rng.sample(members, min(max(1, round(test_fraction * len(members))), len(members) - 1)))
    else:
        ids = sorted({g for _, g in first.values()})
        if len(ids) < 2:
            raise TaskError(f"the group column has {len(ids)} group: it needs at least two, one to train on and one "
                            "to test")
        test_ids = set(rng.sample(ids, min(max(1, round(test_fraction * len(ids))), len(ids) - 1)))
        test_texts = {t for t, (_, g) in first.items() if g in test_ids}
        for label in classes:
            sides = {t in test_texts for t, (y, _) in first.items() if y == label}
            if sides != {True, False}:
                raise TaskError(f"class {label!r} is only on the {'test' if True in sides else 'training'} side of "
                                "the group split: label more groups, or change --seed")
    index = {label: i for i, label in enumerate(classes)}
    train = [(t, index[y]) for t, (y, _) in first.items() if t not in test_texts]
    test = [(t, index[y], g) for t, (y, g) in first.items() if t in test_texts]
    group_ids = None if groups is None else {g: i for i, g in enumerate(dict.fromkeys(g for _, _, g in test))}
    task = Task([t for t, _ in train], [y for _, y in train], [t for t, _, _ in test], [y for _, y, _ in test],
                classes, None if group_ids is None else [group_ids[g] for _, _, g in test])
    return task, len(texts) - len(first)


def check_budgets(task: Task, per_class: Sequence[int]) -> None:
    """Raise TaskError if a class has fewer training examples than the largest label budget asks for."""
    for i, label in enumerate(task.classes):
        have = task.train_labels.count(i)
        if have < max(per_class):
            raise TaskError(f"--per-class {max(per_class)}: class {label!r} has only {have} training examples "
                            "after the test split: lower --per-class or label more examples")
