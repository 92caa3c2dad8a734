"""scripts/payoff.py: the test sentences taken out of the adaptation text, mistakes answered before anything loads,
the verdict lines; one small end-to-end run (slow)."""

import csv
import json
import os
import subprocess
import sys

import pytest

from helpers import MEDITATIONS, REPO_ROOT
from helpers.payoff import MIN_MATCH_CHARS, adaptation_text, normalise, verdict_line, without_test_texts

SCRIPT = REPO_ROOT / "scripts" / "payoff.py"
TEST_TEXT = "The soul becomes dyed with the colour of its thoughts."


def test_test_sentences_are_taken_out_wherever_they_are_and_counted():
    paragraphs = [f"Begin here.  {TEST_TEXT} And go on.", TEST_TEXT, "Nothing to see.", f"{TEST_TEXT}\n{TEST_TEXT}"]
    kept, leak = without_test_texts(paragraphs, [TEST_TEXT, "Not in it, not at all, anywhere.", "Short."])
    assert kept == ["Begin here. And go on.", "Nothing to see."], "an emptied paragraph is dropped"
    assert (leak.found, leak.occurrences, leak.looked_for, leak.too_short) == (1, 4, 2, 1)
    said = leak.describe(kept=False)
    assert "1 of the 2 test texts" in said and "4 occurrences were taken out" in said
    assert f"1 test texts under {MIN_MATCH_CHARS} characters" in said
    assert leak.describe(kept=True).startswith("warning:") and "--keep-test-sentences" in leak.describe(kept=True)


def test_a_test_text_inside_a_longer_one_goes_with_it():
    longer = TEST_TEXT + " Then it says more than that."
    kept, leak = without_test_texts([f"A. {longer} B."], [TEST_TEXT, longer])
    assert kept == ["A. B."] and leak.found == 1 and leak.occurrences == 1


def test_the_adaptation_text_is_a_copy_only_when_something_was_taken_out(tmp_path):
    domain = tmp_path / "domain.txt"
    domain.write_text(f"First paragraph. {TEST_TEXT}\n\nSecond   paragraph,\nwrapped.\n", encoding="utf-8")
    path, leak = adaptation_text(domain, [TEST_TEXT], tmp_path / "out", keep=False)
    assert path == tmp_path / "out" / "adaptation_text.txt" and leak.occurrences == 1
    assert path.read_text(encoding="utf-8").splitlines() == ["First paragraph.", "Second paragraph, wrapped."]
    assert adaptation_text(domain, [TEST_TEXT], tmp_path / "kept", keep=True)[0] == domain
    assert adaptation_text(domain, ["Nowhere in the domain text at all."], tmp_path / "clean", keep=False)[0] == domain
    assert normalise(" a \n b\t") == "a b"


def test_a_verdict_line_names_the_pair_the_score_and_the_reading():
    row = {"a": "adapted", "b": "starting", "method": "probe", "per_class": 8, "score": "balanced accuracy",
           "mean": 0.5, "low": 0.4, "high": 0.6, "balanced_mean": 0.03, "balanced_low": 0.01, "balanced_high": 0.05,
           "verdict": "adapted beats starting: the whole interval is above 0"}
    assert verdict_line(row) == ("verdict (probe, 8 per class, balanced accuracy): adapted - starting = +0.030 "
                                 "[+0.010, +0.050]: adapted beats starting: the whole interval is above 0")


def payoff_main():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import payoff
    finally:
        sys.path.pop(0)
    return payoff.main


@pytest.fixture
def task_csv(tmp_path):
    """A labelled task: sentences of Meditations labelled by which half of the book they come from."""
    lines = [line for line in MEDITATIONS.read_text(encoding="utf-8").splitlines() if 60 < len(line) < 300][:80]
    path = tmp_path / "task.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *((t, "early" if i < 40 else "late") for i, t in enumerate(lines))])
    return path


@pytest.mark.parametrize("flags, phrase", [
    (["--runs", "1"], "--runs must be at least 2"),
    (["--seeds", "1"], "--seeds must be at least 2"),
    (["--tokens", "0"], "--tokens must be at least 1"),
    (["--per-class", "0"], "--per-class: every budget must be at least 1"),
    (["--test-fraction", "1"], "--test-fraction must be between 0 and 1"),
    (["--control-text", "no/such.txt"], "--control-text no/such.txt: no such file"),
    (["--per-class", "500"], "--per-class 500"),
])
def test_mistakes_stop_with_one_line_before_any_model_loads(task_csv, tmp_path, capsys, monkeypatch, flags, phrase):
    import helpers.downstream

    main = payoff_main()
    for module in (helpers.downstream, sys.modules[main.__module__]):
        monkeypatch.setattr(module, "load_arm", lambda *a: pytest.fail("a model loaded"))
    with pytest.raises(SystemExit) as stopped:
        main(["--text", str(MEDITATIONS), "--data", str(task_csv), "--output", str(tmp_path / "out"),
                       *flags])
    assert phrase in str(stopped.value.code) and str(stopped.value.code).startswith("payoff.py:")


def test_a_run_folder_as_the_model_says_where_its_model_is(task_csv, tmp_path):
    run = tmp_path / "runs" / "x"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as stopped:
        payoff_main()(["--text", str(MEDITATIONS), "--data", str(task_csv), "--output", str(tmp_path / "out"),
                       "--model", str(run)])
    assert f"is a run folder; its model is in {run / 'model'}" in str(stopped.value.code)


@pytest.mark.slow
def test_the_one_command_runs_end_to_end_and_prints_the_verdict_first(task_csv, tmp_path):
    domain = tmp_path / "domain.txt"
    domain.write_text("\n".join(MEDITATIONS.read_text(encoding="utf-8").splitlines()[:400]), encoding="utf-8")
    out = tmp_path / "payoff"
    result = subprocess.run([sys.executable, str(SCRIPT), "--text", str(domain), "--data", str(task_csv), "--output",
                             str(out), "--runs", "2", "--tokens", "3000", "--seeds", "2", "--per-class", "4"],
                            capture_output=True, text=True, timeout=900, cwd=REPO_ROOT,
                            env={**os.environ, "KIT_QUICK": "1", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert any(line.startswith("leak check:") and "taken out" in line for line in lines), "the test texts are in it"
    plan = next(i for i, line in enumerate(lines) if line.startswith("plan:"))
    first_verdict = next(i for i, line in enumerate(lines) if line.startswith("verdict (probe, 4 per class"))
    table = next(i for i, line in enumerate(lines) if line.startswith("model "))
    assert plan < first_verdict < table, "the plan before the runs, the verdict before the tables"
    assert "adapted - control" in lines[first_verdict] and "adapted - starting" in lines[first_verdict + 1]
    report = json.loads((out / "report.json").read_text())
    assert report["tokens_per_run"] == 3000 and report["leak"]["found"] > 0 and report["cpu_seconds"] > 0
    cards = [json.loads((out / f"{arm}-{r}" / "model" / "card.json").read_text())
             for arm in ("adapted", "control") for r in (1, 2)]
    assert all(3000 <= c["training"]["real_tokens"] < 3000 + 16 * 128 for c in cards), "the same budget, to a step"
