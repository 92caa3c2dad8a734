"""The labelled CSV file of scripts/downstream.py and scripts/payoff.py: mistakes answered with the fix."""

import pytest

from helpers.downstream import TaskError, possible_typos, read_labelled_csv

ROWS = [f"sentence number {i} of the {label} book,{label}" for label in ("Job", "Proverbs") for i in range(6)]


def write(tmp_path, lines: list[str]):
    path = tmp_path / "task.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_column_names_are_matched_whatever_their_case(tmp_path):
    rows = read_labelled_csv(write(tmp_path, ["Text,Label", *ROWS]))
    assert len(rows.texts) == 12 and set(rows.labels) == {"Job", "Proverbs"}


def test_a_group_column_is_matched_whatever_its_case(tmp_path):
    lines = ["TEXT,LABEL,Pair"] + [f"{row},p{i // 2}" for i, row in enumerate(ROWS)]
    assert read_labelled_csv(write(tmp_path, lines), group_column="pair").groups[:3] == ["p0", "p0", "p1"]


@pytest.mark.parametrize("mark, name", [(";", "semicolons"), ("\t", "tabs")])
def test_another_separator_is_named(tmp_path, mark, name):
    lines = [f"text{mark}label"] + [row.replace(",", mark) for row in ROWS]
    with pytest.raises(TaskError, match=f"separates its columns with {name}, not commas"):
        read_labelled_csv(write(tmp_path, lines))


def test_a_mistyped_label_is_hinted_with_its_line(tmp_path):
    lines = ["text,label", *ROWS, "one more sentence of the book,Proverb"]
    with pytest.raises(TaskError, match=r"line 14: the label 'Proverb' has 1 example and looks like 'Proverbs'"):
        read_labelled_csv(write(tmp_path, lines))


def test_small_classes_with_unlike_names_are_not_typos():
    assert possible_typos(["Job"] * 20 + ["Proverbs"] * 20 + ["Ruth"] * 2) == []
    assert possible_typos(["Job"] * 3 + ["job"] * 3) == []  # as many of each: two classes, not a typo
    assert possible_typos(["Proverbs"] * 20 + ["proverbs"]) == [("proverbs", "Proverbs")]


def test_a_run_folder_given_as_a_model_points_to_its_model(tmp_path, capsys):
    from helpers.models import KIT_BERT
    from scripts.downstream import main

    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "config.json").write_text("{}")
    data = write(tmp_path, ["text,label", *ROWS])
    with pytest.raises(SystemExit):
        main(["--data", str(data), "--model", str(KIT_BERT), "--model", str(tmp_path / "run"),
              "--per-class", "2"])
    assert f"is a run folder; its model is in {tmp_path / 'run' / 'model'}" in capsys.readouterr().err
