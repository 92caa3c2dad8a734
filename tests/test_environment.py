"""pyproject.toml and environment.yml name the same packages and ranges, and CI's version legs can install them."""

import re
import runpy
import tomllib

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from helpers import REPO_ROOT

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def constraint_lines(path) -> list[str]:
    """Return the requirement lines of a pip constraints file (no comments, no blank lines)."""
    return [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def pip_list_of_environment_yml() -> list[str]:
    lines = (REPO_ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    entries = []
    for line in lines[start + 1 :]:
        match = re.match(r"\s{4,}- (.+)$", line)
        if not match:
            break
        entries.append(match.group(1).strip())
    return entries


def test_environment_yml_matches_pyproject():
    extras = PROJECT["optional-dependencies"]
    expected = PROJECT["dependencies"] + extras["lab"] + extras["test"]
    listed = pip_list_of_environment_yml()
    assert "-e ." in listed, "environment.yml should install the kit itself (-e .)"
    assert sorted(e for e in listed if e != "-e .") == sorted(expected)


def test_torch_range_admits_the_local_cpu_wheel():
    torch = next(Requirement(d) for d in PROJECT["dependencies"] if Requirement(d).name == "torch")
    (pin,) = constraint_lines(REPO_ROOT / "ci" / "torch.txt")
    assert pin == "torch==2.13.0" and torch.specifier.contains("2.13.0")


def test_the_oldest_leg_pins_every_dependency_but_torch_at_its_floor():
    floors = runpy.run_path(str(REPO_ROOT / "ci" / "oldest.py"))["floors"]
    pins = dict(p.split("==") for p in floors(PROJECT["dependencies"]))
    for dependency in map(Requirement, PROJECT["dependencies"]):
        if dependency.name == "torch":
            assert "torch" not in pins  # every leg takes ci/torch.txt's
        else:
            assert dependency.specifier == SpecifierSet(f">={pins[dependency.name]}")


# Pinned in ci/colab.txt for the leg's last step only (Colab's front end for the Notebook 6 browser test), not a
# dependency of the kit.
COLAB_FRONT_END = {"notebook"}


def test_the_colab_legs_versions_are_inside_the_declared_ranges():
    ranges = {Requirement(d).name: Requirement(d).specifier for d in PROJECT["dependencies"]}
    for line in constraint_lines(REPO_ROOT / "ci" / "colab.txt"):
        name, version = line.split("==")
        if name in COLAB_FRONT_END:
            continue
        assert name in ranges, f"ci/colab.txt pins {name}, which pyproject.toml does not declare"
        assert ranges[name].contains(version), f"ci/colab.txt: {line} is outside pyproject's {name}{ranges[name]}"

