"""helpers.check, the learner's set-up check: one line per check, and what to do after each problem."""

import importlib.metadata

from packaging.requirements import Requirement

from helpers import check


def test_this_environment_passes_every_check(monkeypatch, capsys):
    if importlib.metadata.version("ipywidgets").startswith("7."):  # CI's colab leg: Colab's versions, Colab's drawing
        monkeypatch.setattr(check, "widget_frontend", lambda: "Colab")
    assert check.main() == 0
    out = capsys.readouterr().out
    for name in ("python", "packages", "mode", "quick model", "widgets", "room"):
        assert f"ok       {name}:" in out
    assert "QUICK mode" in out and "fills 'The sun rose over the [MASK].' with [" in out
    assert "0 problem(s) found" in out


def test_an_old_package_or_python_is_a_problem_with_what_to_do(monkeypatch, capsys):
    monkeypatch.setattr(check, "declared_requirements", lambda: (">=3.99", [Requirement("torch>=99")]))
    assert check.run_checks({"python": check.check_python, "packages": check.check_packages}) == 2
    out = capsys.readouterr().out
    assert "PROBLEM  python: Python 3." in out and "needs >=3.99" in out
    assert "torch" in out and "(needs >=99)" in out and out.count("what to do:") == 2


def test_widgets_that_do_not_match_their_front_end_are_a_problem(monkeypatch):
    versions = {"ipywidgets": "8.1.5", "jupyterlab_widgets": "3.0.13"}
    monkeypatch.setattr(importlib.metadata, "version", lambda name: versions[name])
    monkeypatch.setattr(check, "widget_frontend", lambda: "JupyterLab")
    assert check.check_widgets().ok
    versions["jupyterlab_widgets"] = "1.1.7"
    result = check.check_widgets()
    assert not result.ok and "do not match" in result.found and "restart JupyterLab" in result.fix


def test_short_memory_in_full_mode_points_to_quick_mode(monkeypatch):
    monkeypatch.setattr(check, "available_memory", lambda: 2 * check.GIB)
    assert check.check_room("quick").ok
    result = check.check_room("full")
    assert not result.ok and "KIT_QUICK=1" in result.fix
