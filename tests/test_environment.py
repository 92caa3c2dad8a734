"""pyproject.toml and environment.yml must name the same packages with the same version ranges."""

import re

import tomllib

from helpers import REPO_ROOT


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
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    expected = project["dependencies"] + project["optional-dependencies"]["test"]
    listed = pip_list_of_environment_yml()
    assert "-e ." in listed, "environment.yml should install the kit itself (-e .)"
    assert sorted(e for e in listed if e != "-e .") == sorted(expected)


def test_torch_range_admits_the_local_cpu_wheel():
    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    torch_spec = next(d for d in project["dependencies"] if d.startswith("torch"))
    assert SpecifierSet(torch_spec.removeprefix("torch")).contains("2.13.0")
