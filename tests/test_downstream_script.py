"""scripts/downstream.py: bad input stops with one line before any model loads; a run is repeatable and shared."""

import json
import shutil
import subprocess
import sys

import pytest

from helpers import REPO_ROOT
from helpers.downstream import split_task
from helpers.models import KIT_BERT
from scripts.downstream import main

# A model name that cannot load: a data error must be reported before any model is even tried.
NO_MODEL = "/nonexistent/model"


def write(tmp_path, content: str | bytes, name: str = "task.csv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def error_of(capsys, *argv: str) -> str:
    """Run the script's main with `argv`; return the one line it printed to stderr (it must exit with code 2)."""
    with pytest.raises(SystemExit) as stop:
        main(list(argv))
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def labelled(n: int = 6) -> str:
    rows = [f"the cat number {i} sat,cat" for i in range(n)] + [f"the dog number {i} ran,dog" for i in range(n)]
    return "text,label\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize("content, expected", [
    (b"text,label\ncaf\xe9 au lait,a\n", "is not UTF-8"),
    ("\ufeff".encode("utf-16-le") + "text,label\n".encode("utf-16-le"), "UTF-16"),
    ("hello world,cat\nbye,dog\n", "no 'text' and no 'label' column"),
    ("text,kind\nhello,cat\n", "no 'label' column"),
    ("text,label\nhello,cat\n,dog\n", "line 3: empty text"),
    ("text,label\nhello,cat\nbye,\n", "line 3: empty label"),
    ("text,label\nhello,cat\nbye,cat\n", "every example has the label 'cat'"),
    ("text,label\n", "no examples"),
    ("", "is empty"),
])
def test_bad_files_stop_before_any_model_loads(tmp_path, capsys, content, expected):
    path = write(tmp_path, content)
    line = error_of(capsys, "--data", str(path), "--model", NO_MODEL, "--model", "/another/model")
    assert expected in line and str(path) in line


def test_missing_file_is_named(tmp_path, capsys):
    line = error_of(capsys, "--data", str(tmp_path / "nope.csv"), "--model", NO_MODEL, "--model", "/another/model")
    assert "nope.csv" in line and "no such file" in line


@pytest.mark.parametrize("options, expected", [
    (["--per-class", "8"], "--per-class 8: class 'cat' has only 5 training examples"),
    (["--per-class", "0"], "--per-class: every budget must be at least 1"),
    (["--test-fraction", "1.5"], "--test-fraction must be between 0 and 1"),
    (["--seeds", "1"], "--seeds: at least 2"),
])
def test_bad_options_are_named(tmp_path, capsys, options, expected):
    path = write(tmp_path, labelled())
    assert expected in error_of(capsys, "--data", str(path), "--model", NO_MODEL, "--model", "/another/model",
                               *options)


@pytest.mark.parametrize("options, expected", [
    (["--name", "start"], "--name: give one per --model (2 models, 1 names)"),
    (["--name", "x", "--name", "x"], "--name: each name once"),
    (["--primary", "a", "b"], "--primary a b: name two different models among nonexistent/model, another/model"),
    (["--primary", "model", "model"], "--primary model model: name two different models"),
])
def test_bad_names_are_refused_before_any_model_loads(tmp_path, capsys, options, expected):
    path = write(tmp_path, labelled())
    line = error_of(capsys, "--data", str(path), "--model", "/nonexistent/model", "--model", "/another/model", *options)
    assert expected in line


def test_one_model_is_not_a_comparison(tmp_path, capsys):
    path = str(write(tmp_path, labelled()))
    assert "two or more models" in error_of(capsys, "--data", path, "--model", NO_MODEL)
    assert "given twice" in error_of(capsys, "--data", path, "--model", NO_MODEL, "--model", NO_MODEL)


def test_a_model_that_cannot_load_is_named(tmp_path, capsys):
    line = error_of(capsys, "--data", str(write(tmp_path, labelled())), "--model", str(KIT_BERT), "--model", NO_MODEL,
                    "--per-class", "2")
    assert line.startswith(f"error: --model {NO_MODEL}: no such folder")  # said before any model loads


def test_duplicates_are_counted_and_kept_on_one_side():
    texts = [f"text {i}" for i in range(20)] * 2 + ["text 0"]
    labels = ["a" if i % 2 else "b" for i in range(20)] * 2 + ["b"]
    for seed in range(5):
        task, repeated = split_task(texts, labels, 0.3, seed)
        assert repeated == 21
        assert not set(task.train_texts) & set(task.test_texts)
        # Each distinct text once: never drawn twice into one budget, never counted twice in the test set.
        assert sorted(task.train_texts + task.test_texts) == sorted(set(texts))
        assert sorted(set(task.test_labels)) == [0, 1]  # each class keeps a share of the test set
    assert split_task(texts, labels, 0.3, 0)[0] == split_task(texts, labels, 0.3, 0)[0]
    assert split_task(texts, labels, 0.3, 0)[0] != split_task(texts, labels, 0.3, 1)[0]


def test_a_text_with_two_labels_is_refused_with_its_lines(tmp_path, capsys):
    path = write(tmp_path, labelled() + "the cat number 2 sat,dog\n")
    line = error_of(capsys, "--data", str(path), "--model", NO_MODEL, "--model", "/another/model")
    assert "lines 4 and 14: the same text has the labels 'cat' and 'dog'" in line


def test_groups_stay_whole_on_one_side():
    texts = [f"sentence {i}" for i in range(30)] + [f"shuffled {i}" for i in range(30)]
    labels = ["intact"] * 30 + ["shuffled"] * 30
    groups = [str(i) for i in range(30)] * 2
    task, _ = split_task(texts, labels, 0.3, 0, groups)
    assert len(task.test_texts) == 2 * 9 and sorted(task.test_groups) == sorted(list(range(9)) * 2)
    twins = {g: {t.split()[1] for t, gg in zip(task.test_texts, task.test_groups) if gg == g} for g in range(9)}
    assert all(len(numbers) == 1 for numbers in twins.values())  # a sentence and its twin share their group
    assert not {t.split()[1] for t in task.train_texts} & {t.split()[1] for t in task.test_texts}


@pytest.mark.slow
def test_a_run_prints_the_verdict_then_the_table_then_the_same_results_as_json(tmp_path):
    # Labels no model can read off the text (the parity of a number), so the scores vary from seed to seed.
    rows = [f"item {i} of the list,{'even' if i % 2 == 0 else 'odd'}" for i in range(24)]
    path = write(tmp_path, "text,label\n" + "\n".join(rows) + "\n")
    twin = shutil.copytree(KIT_BERT, tmp_path / "twin")
    command = [sys.executable, "scripts/downstream.py", "--data", str(path), "--model", str(KIT_BERT), "--model",
               str(twin), "--per-class", "2", "4", "--seeds", "3", "--method", "both", "--lr", "1e-3"]
    command += ["--name", "kit", "--name", "twin", "--primary", "twin", "kit"]
    runs = [subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600) for _ in range(2)]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[0].stdout == runs[1].stdout  # same arguments and seed, same numbers
    lines = runs[0].stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert report["classes"] == ["even", "odd"] and report["test_examples"] == 4  # 20% of 12 per class, rounded
    assert {(r["method"], r["per_class"]) for r in report["results"]} == {
        (m, k) for m in ("probe", "finetune") for k in (2, 4)}
    assert all(0 <= r["low"] <= r["mean"] <= r["high"] <= 1 and r["seeds"] == 3 for r in report["results"])
    # Two copies of one model: every difference is exactly zero.
    assert all(d["mean"] == d["low"] == d["high"] == 0 for d in report["differences"])
    assert any("4 per class" in line for line in lines)
    # Differences are named by the models, the primary one marked, and the verdict says which answers the question.
    assert "twin - kit (probe, 2 per class): +0.000 [+0.000, +0.000]   <- primary" in lines
    assert any(line.startswith("Which interval answers your question: twin - kit") for line in lines)
    assert "verdict (probe, 4 per class, accuracy): twin - kit = +0.000 [+0.000, +0.000]: no difference we can tell " \
           "between twin and kit: the interval holds 0" in lines
    assert report["primary"] == ["twin", "kit"] and report["majority_rate"] == 0.5
    # The answer comes before the table it rests on, as in scripts/payoff.py and lesson 05's prose.
    first_verdict = next(i for i, line in enumerate(lines) if line.startswith("verdict ("))
    assert first_verdict < next(i for i, line in enumerate(lines) if line.startswith("model "))
