"""Did continued pre-training pay off on YOUR task? From your text and your labels to a verdict, in one command.

    python scripts/payoff.py --text my_domain.txt --data my_task.csv --output runs/payoff

It continues pre-training the starting model (MLM) on your domain text, and trains a control with the same
budget in real tokens on general English (data/austen.txt), each --runs times with its own seed; then it scores
the starting model, the adapted runs and the control runs on your labelled task (a linear probe on frozen
features, and/or fine-tuning: lesson 05), at each label budget for --seeds draws of the labelled examples, and
prints the verdict before the tables: adapted - control (did reading YOUR text help, beyond reading more of any
text?) and adapted - starting, each with its 95% interval over runs, label draws and test sentences.

The task's test sentences are taken out of the adaptation text first (counted and said): a model that read the
sentences it is tested on scores what it remembers, not what it learned (--keep-test-sentences keeps them, to see
how much that flatters). A stopped run goes on where it stopped when given the same command again.
The CSV file has a header line and the columns `text` and `label` (scripts/downstream.py's format).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere: `helpers` is beside scripts/

from helpers import DATA_DIR  # noqa: E402
from helpers.corpus import CorpusError, check_text_file  # noqa: E402
from helpers.downstream import (  # noqa: E402
    METHODS,
    FineTuning,
    TaskError,
    check_budgets,
    compare,
    load_arm,
    read_labelled_csv,
    split_task,
    text_features,
)
from helpers.models import KIT_BERT, model_folder_problem, model_source  # noqa: E402
from helpers.payoff import PAIRS, adaptation_text, duration, verdict_line  # noqa: E402
from helpers.pretraining import ConfigError, PretrainConfig, RunError, pretrain  # noqa: E402
from helpers.verdict import is_balanced, majority_rate, results_table, summarise  # noqa: E402

# A budget a laptop's CPU trains in minutes with the kit's small BERT: about 60 steps of 16 x 128 tokens a run, lesson
# 05's budget;
# the default takes --passes over the domain text, up to this many real tokens.
DEFAULT_MAX_TOKENS = 128_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", type=Path, required=True, help="your domain text (UTF-8, a paragraph per line or "
                                                            "blank lines between)")
    p.add_argument("--data", type=Path, required=True, help="your labelled task: CSV with columns text and label")
    p.add_argument("--output", type=Path, required=True, help="folder for the runs, the cleaned text, report.json")
    p.add_argument("--model", help="the starting model: a Hub name or a folder (default: the kit's run mode; quick "
                                   "mode: data/kit_bert)")
    p.add_argument("--control-text", type=Path, default=DATA_DIR / "austen.txt",
                   help="general text for the control (default: data/austen.txt, Jane Austen's novels, public "
                        "domain: ordinary English of the kind both modes' models were pre-trained on, BERT's "
                        "BooksCorpus being fiction too; the kit's small BERT read these very novels)")
    p.add_argument("--runs", type=int, default=3, help="continued pre-training runs per arm, each its own seed "
                                                       "(default 3; the run is the unit of the interval)")
    p.add_argument("--tokens", type=int, help="real tokens each run reads (default: --passes over the domain text, "
                                              f"at most {DEFAULT_MAX_TOKENS:,})")
    p.add_argument("--passes", type=int, default=10, help="passes over the domain text when --tokens is not given "
                                                          "(default 10)")
    p.add_argument("--per-class", type=int, nargs="+", default=[8, 32],
                   help="label budgets: labelled training examples per class (default: 8 32)")
    p.add_argument("--seeds", type=int, default=10, help="draws of the labelled examples per budget (default 10)")
    p.add_argument("--method", choices=["probe", "finetune", "both"], default="probe",
                   help="probe: a logistic regression on frozen features (fast, default); finetune; both")
    p.add_argument("--test-fraction", type=float, default=0.2, help="share of distinct texts held out (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="fixes the test split, the draws and the first run's seed")
    p.add_argument("--keep-test-sentences", action="store_true",
                   help="adapt on the domain text as it is, even where it holds the task's test sentences")
    p.add_argument("--dry-run", action="store_true", help="check everything, print the plan and the time, stop")
    return p.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Raise TaskError for a value that cannot work, before any file is read or any model loads."""
    for option, low in (("runs", 2), ("seeds", 2), ("passes", 1), ("tokens", 1)):
        value = getattr(args, option)
        if value is not None and value < low:
            raise TaskError(f"--{option} must be at least {low} (an interval needs two or more), got {value}"
                            if low == 2 else f"--{option} must be at least {low}, got {value}")
    if min(args.per_class) < 1:
        raise TaskError(f"--per-class: every budget must be at least 1, got {min(args.per_class)}")
    if not 0 < args.test_fraction < 1:
        raise TaskError(f"--test-fraction must be between 0 and 1 (e.g. 0.2), got {args.test_fraction}")
    for option, path in (("--text", args.text), ("--control-text", args.control_text)):
        try:
            check_text_file(path)
        except (OSError, CorpusError) as exc:
            raise TaskError(f"{option} {exc}") from None
    if args.model and (problem := model_folder_problem(args.model)):
        raise TaskError(f"--model {problem}")


def run_config(args: argparse.Namespace, arm: str, run: int, text: Path, tokens: int | None) -> PretrainConfig:
    """Return the engine's settings of one run: MLM only (lesson 05's adaptation), the model's length and rate.

    The control's general text is long: 2% of it held out is plenty to score, and keeps its scoring short.
    """
    return PretrainConfig(text=text, output=args.output / f"{arm}-{run + 1}", model=args.model, objective="mlm",
                          tokens=tokens, epochs=args.passes, seed=args.seed + run, resume=True,
                          held_out_fraction=0.1 if arm == "adapted" else 0.02)


def plan(args: argparse.Namespace, text: Path, task) -> tuple[int, float, str]:
    """Return (the budget in real tokens, the seconds the whole command should take, the plan in words)."""
    dry = pretrain(dataclasses.replace(run_config(args, "adapted", 0, text, args.tokens), dry_run=True))
    tokens = args.tokens or min(dry.plan.tokens, DEFAULT_MAX_TOKENS)
    steps = round(dry.plan.total_steps * tokens / dry.plan.tokens)  # about as many for the control: full windows
    training = 2 * args.runs * steps * dry.seconds_per_step
    began = time.perf_counter()  # the probe's cost is the models' features: time the starting model's
    text_features(load_arm(model_source(args.model)[0]), task.train_texts + task.test_texts)
    scoring = (1 + 2 * args.runs) * (time.perf_counter() - began)
    said = (f"plan: {args.runs} runs x 2 arms (adapted on {text.name}, control on {args.control_text.name}), each "
            f"{tokens:,} real tokens (about {steps} steps): about {duration(training)} of training; scoring "
            f"{1 + 2 * args.runs} models with the probe: about {duration(scoring)}")
    if args.method != "probe":
        said += "; fine-tuning comes on top (lesson 05 times it: minutes per budget on a CPU)"
    return tokens, training + scoring, said


def adapt(args: argparse.Namespace, text: Path, tokens: int) -> dict[str, list[Path]]:
    """Train every run of both arms (or finish a stopped one); return each arm's model folders."""
    folders: dict[str, list[Path]] = {"adapted": [], "control": []}
    jobs = [(arm, r) for r in range(args.runs) for arm in folders]  # alternate: a stop leaves the arms even
    for done, (arm, r) in enumerate(jobs):
        print(f"\n[{done + 1}/{len(jobs)}] {arm} run {r + 1} of {args.runs} (seed {args.seed + r})", flush=True)
        config = run_config(args, arm, r, text if arm == "adapted" else args.control_text, tokens)
        pretrain(config)
        folders[arm].append(config.output / "model")
    return folders


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    began = time.perf_counter()
    try:
        check_args(args)
        texts, labels, groups = read_labelled_csv(args.data)
        task, repeated = split_task(texts, labels, args.test_fraction, args.seed, groups)
        check_budgets(task, args.per_class)
    except TaskError as exc:
        sys.exit(f"payoff.py: {exc}")
    print(f"{args.data}: {len(task.train_texts) + len(task.test_texts)} texts, classes {task.classes}; "
          f"{len(task.test_texts)} held out for testing (seed {args.seed})")
    text, leak = adaptation_text(args.text, task.test_texts, args.output, args.keep_test_sentences)
    print(leak.describe(args.keep_test_sentences))
    try:
        tokens, seconds, said = plan(args, text, task)
        print(f"{said}\nabout {duration(seconds)} in all (measured on this machine; a busy one takes longer)",
              flush=True)
        if args.dry_run:
            return None
        folders = adapt(args, text, tokens)
    except (ConfigError, RunError) as exc:
        sys.exit(f"payoff.py: {exc}")
    # The runs stay folders: compare() loads one at a time (all of them at once may not fit in memory).
    arms = {"starting": load_arm(model_source(args.model)[0]), **folders}
    methods = list(METHODS) if args.method == "both" else [args.method]
    # Lesson 05's fine-tuning: a small model needs a higher rate than bert-base.
    small = Path(model_source(args.model)[0]).resolve() == KIT_BERT.resolve()
    tuning = FineTuning(lr=3e-4 if small else 3e-5, epochs=10, batch_size=16)
    results = compare(arms, task, args.per_class, args.seeds, methods, first_seed=args.seed, fine_tuning=tuning,
                      progress=lambda what: print(f"... {what}", flush=True))
    rows, differences = summarise(results, task, PAIRS)
    print("\n" + "\n".join(verdict_line(d) for d in differences))
    print("(intervals: 95%, over pre-training runs, label draws and test sentences; adapted - control answers "
          "the question, adapted - starting says whether any continued pre-training helped)\n")
    print(results_table(rows, differences, balanced=not is_balanced(task.test_labels)))
    print(f"always answering the majority class: {majority_rate(task.test_labels):.3f}")
    report = {"verdict": [verdict_line(d) for d in differences], "results": rows, "differences": differences,
              "tokens_per_run": tokens, "leak": dataclasses.asdict(leak), "kept_test_sentences":
              args.keep_test_sentences, "adaptation_text": str(text), "control_text": str(args.control_text),
              "seconds": round(time.perf_counter() - began), "cpu_seconds": round(time.process_time())}
    (args.output / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"took {duration(report['seconds'])} ({report['cpu_seconds']} CPU seconds); report: "
          f"{args.output / 'report.json'}")
    return report


if __name__ == "__main__":
    main()
