"""Did continued pre-training pay off on YOUR task? Score two or more models on a labelled CSV file.

    python scripts/downstream.py --data my_task.csv --model data/kit_bert --model runs/my-bert/model \
        [--name starting --name adapted] [--primary adapted starting] [--per-class 8 32 128] [--seeds 10] \
        [--method probe|finetune|both] [--test-fraction 0.2] [--group-column GROUP] [--seed 0]

The CSV file has a header line and the columns `text` and `label` (two classes or more). A test split, fixed by
--seed, is held out once and shared by every model. Each model is scored with a linear probe on its frozen features
and/or by fine-tuning it, at each label budget (examples per class) for --seeds draws of the labelled examples; every
model sees the same draws. It prints first the verdict lines, which read the primary comparison, then a table of
each mean test accuracy with its 95% interval and each difference between two models, named by the models; the
last line printed is the same as JSON. Lesson 05 explains every part; scripts/payoff.py also trains the models,
several runs each.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere: `helpers` is beside scripts/

from helpers.downstream import (  # noqa: E402
    METHODS,
    FineTuning,
    TaskError,
    check_budgets,
    compare,
    load_arm,
    read_labelled_csv,
    split_task,
)
from helpers.models import model_folder_problem  # noqa: E402
from helpers.training import pick_device  # noqa: E402
from helpers.verdict import is_balanced, majority_rate, results_table, short_names, summarise, verdict_lines  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="CSV file with a header and columns text and label")
    p.add_argument("--model", action="append", required=True,
                   help="a model to score: a Hub name or a folder (give --model two or more times)")
    p.add_argument("--name", action="append",
                   help="the name printed for each --model, in the same order (default: its last folders)")
    p.add_argument("--primary", nargs=2, metavar=("A", "B"),
                   help="the comparison that answers your question, A minus B, by name (default: the second "
                        "model minus the first); every other difference is exploratory")
    p.add_argument("--per-class", type=int, nargs="+", default=[8, 32, 128],
                   help="label budgets: labelled training examples per class (default: 8 32 128)")
    p.add_argument("--seeds", type=int, default=10,
                   help="draws of the labelled examples per budget (default: 10; fewer widen the intervals)")
    p.add_argument("--method", choices=["probe", "finetune", "both"], default="probe",
                   help="probe: a logistic regression on frozen features (fast); finetune: train the whole model "
                        "with a new linear layer; both (default: probe)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="share of distinct texts held out (default: 0.2)")
    p.add_argument("--group-column", help="a CSV column whose rows belong together (a text and its variants): "
                                          "each group goes to one side of the split and counts once in the intervals")
    p.add_argument("--seed", type=int, default=0, help="fixes the test split and the draws (default: 0)")
    p.add_argument("--lr", type=float, default=FineTuning.lr,
                   help=f"fine-tuning learning rate (default: {FineTuning.lr:g}, for bert-base; ~1e-4 for small "
                        "models)")
    return p.parse_args(argv)


def model_names(args: argparse.Namespace) -> list[str]:
    """Return the printed name of each --model: --name, else its last folders (never two alike)."""
    if args.name is None:
        try:
            return short_names(args.model)
        except ValueError:
            raise TaskError("--model: each model once, please (the same name was given twice)") from None
    if len(args.name) != len(args.model):
        raise TaskError(f"--name: give one per --model ({len(args.model)} models, {len(args.name)} names)")
    if len(set(args.name)) < len(args.name):
        raise TaskError("--name: each name once, please, so that no two models print alike")
    return args.name


def check_args(args: argparse.Namespace) -> list[str]:
    """Raise TaskError for a value that cannot work, before anything is read or loaded; return the models' names."""
    if len(set(args.model)) < len(args.model):
        raise TaskError("--model: each model once, please (the same name was given twice)")
    if len(args.model) < 2:
        raise TaskError("--model: give two or more models to compare (e.g. the starting model and the adapted one)")
    names = model_names(args)
    if args.primary and (not set(args.primary) <= set(names) or args.primary[0] == args.primary[1]):
        raise TaskError(f"--primary {' '.join(args.primary)}: name two different models among {', '.join(names)}")
    if min(args.per_class) < 1:
        raise TaskError(f"--per-class: every budget must be at least 1, got {min(args.per_class)}")
    if args.seeds < 2:
        raise TaskError(f"--seeds: at least 2 are needed for an interval over seeds (10 or more advised), "
                        f"got {args.seeds}")
    if not 0 < args.test_fraction < 1:
        raise TaskError(f"--test-fraction must be between 0 and 1 (e.g. 0.2), got {args.test_fraction}")
    if not args.lr > 0:
        raise TaskError(f"--lr must be above 0, got {args.lr}")
    return names


def fail(error: TaskError) -> None:
    """Stop with one line that says what is wrong and what to do, and exit code 2 (a usage error)."""
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    try:
        names = check_args(args)
        texts, labels, groups = read_labelled_csv(args.data, args.group_column)
        task, repeated = split_task(texts, labels, args.test_fraction, args.seed, groups)
        check_budgets(task, args.per_class)
    except TaskError as exc:
        fail(exc)
    majority = majority_rate(task.test_labels)
    print(f"{args.data}: {len(task.train_texts) + len(task.test_texts)} distinct texts, classes {task.classes}; "
          f"{len(task.test_texts)} held out for testing (seed {args.seed}); always answering the most frequent "
          f"class scores {majority:.3f} on them")
    if repeated:
        print(f"{repeated} rows repeat an earlier text: each text is kept once, on one side of the split")
    device = pick_device()
    try:
        for model in args.model:  # a run folder, a checkpoint or a typo: say so before any model loads
            if problem := model_folder_problem(model):
                raise TaskError(f"--model {problem}")
        arms = {}
        for name, model in zip(names, args.model):
            try:
                arms[name] = load_arm(model, device)
            except (OSError, ValueError) as exc:
                raise TaskError(f"--model {model}: cannot load it ({str(exc).splitlines()[0]})") from None
    except TaskError as exc:
        fail(exc)
    methods = list(METHODS) if args.method == "both" else [args.method]
    results = compare(arms, task, args.per_class, args.seeds, methods, first_seed=args.seed,
                      fine_tuning=FineTuning(lr=args.lr), progress=lambda what: print(f"... {what}", flush=True))
    primary = tuple(args.primary) if args.primary else (names[1], names[0])
    pairs = [primary] + [(b, a) for a, b in itertools.combinations(names, 2) if {a, b} != set(primary)]
    rows, differences = summarise(results, task, pairs, primary)
    balanced = not is_balanced(task.test_labels)
    # The answer first (as scripts/payoff.py does), then what it rests on.
    print("\n" + "\n".join(verdict_lines(differences)))
    print(f"Which interval answers your question: {primary[0]} - {primary[1]} at the budget nearest the labelled "
          f"examples per class you will have{', in balanced accuracy (the classes are unequal)' if balanced else ''}; "
          "every other difference is exploratory.")
    groups_said = "test groups" if task.test_groups is not None else "test examples"
    print(f"Intervals: 95% t intervals over {args.seeds} draws of labelled examples and the {groups_said}; each "
          "model is one pre-training run, so the luck of a run is not in them (scripts/payoff.py trains several).\n")
    print(results_table(rows, differences, balanced=balanced))
    report = {"results": rows, "differences": differences, "test_examples": len(task.test_texts),
              "classes": task.classes, "majority_rate": majority, "models": dict(zip(names, args.model)),
              "primary": list(primary), "interval": "t", "seeds": args.seeds}
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
