"""scripts/colab_setup.py's decisions (without a network), and the one repository URL used by Colab's cell and links."""

import importlib.util
import re
import tomllib

import pytest
from packaging.requirements import Requirement

from helpers import REPO_ROOT


def load_script(name: str):
    """Return scripts/NAME.py as a module (scripts/ is no package), without running its main()."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


setup = load_script("colab_setup")
COLAB_CELL = (REPO_ROOT / "notebooks" / "colab_cell.py").read_text()
LESSONS = sorted(p.name for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# What Colab had in 2026 (issue 9): the kit's ranges must admit these, or the set-up would try to replace them.
COLAB = {"transformers": "5.15.0", "tokenizers": "0.23.2", "ipywidgets": "7.7.1", "ipykernel": "6.17.1"}


def repository_url() -> str:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def test_colab_s_versions_are_not_reinstalled():
    known = [r for r in setup.requirements() if r.name in COLAB]
    assert sorted(r.name for r in known) == sorted(COLAB)
    assert setup.missing(known, COLAB.get) == []


def test_an_absent_package_and_one_below_its_floor_are_installed_and_nothing_else():
    reqs = [Requirement("transformers>=4.56"), Requirement("accelerate>=1.0"), Requirement("tqdm>=4.66")]
    installed = {"transformers": "4.46.3", "tqdm": "4.67.1"}
    assert [r.name for r in setup.missing(reqs, installed.get)] == ["transformers", "accelerate"]


def test_the_kernels_own_packages_are_pinned_at_their_installed_versions():
    installed = {"ipykernel": "6.17.1", "ipywidgets": "7.7.1", "ipython": "7.34.0", "tornado": "6.4.2",
                 "jupyter_server": "2.14.0", "jupyter_client": "7.4.9", "torch": "2.9.0", "transformers": "5.15.0"}
    pins = setup.keep_pins(installed.get)
    assert sorted(pins) == sorted(f"{n}=={v}" for n, v in installed.items() if n != "transformers")
    assert setup.keep_pins({"torch": "2.13.0"}.get) == ["torch==2.13.0"]  # nothing pinned that is not there


def test_the_colab_cell_clones_the_repository_named_in_pyproject_and_acts_only_in_colab():
    urls = re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", COLAB_CELL)
    assert urls == [repository_url()]
    code = [line for line in COLAB_CELL.splitlines() if line.strip() and not line.startswith("#")]
    assert code[:2] == ["import sys", 'if "google.colab" in sys.modules:']
    assert all(line.startswith("    ") for line in code[2:]), "everything else runs in Colab only"
    compile(COLAB_CELL, "colab_cell.py", "exec")


def test_the_colab_cell_does_nothing_outside_colab(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(COLAB_CELL, namespace)
    assert set(namespace) - {"__builtins__"} == {"sys"}
    assert list(tmp_path.iterdir()) == []


def test_readme_opens_every_lesson_in_colab_from_the_same_repository():
    owner_repo = repository_url().removeprefix("https://github.com/")
    readme = (REPO_ROOT / "README.md").read_text()
    linked = re.findall(r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/main/notebooks/([\w.-]+)",
                        readme)
    assert sorted(name for _, name in linked) == LESSONS
    assert {repo for repo, _ in linked} == {owner_repo}


def test_every_lesson_starts_with_the_colab_cell():
    import nbformat

    for name in LESSONS:
        notebook = nbformat.read(REPO_ROOT / "notebooks" / name, as_version=4)
        first_code = next(c for c in notebook.cells if c.cell_type == "code")
        assert first_code.source.strip() == COLAB_CELL.strip(), \
            f"{name}: paste notebooks/colab_cell.py as its first code cell"


class FakeSubprocess:
    """Stands in for subprocess: records the pip command and the constraints file's text, returns `returncode`."""

    def __init__(self, returncode: int):
        self.returncode, self.command, self.constraints = returncode, None, None

    def run(self, command):
        self.command = command
        self.constraints = open(command[command.index("--constraint") + 1]).read().split()
        return self


def test_install_passes_the_pins_as_constraints(monkeypatch):
    fake = FakeSubprocess(0)
    monkeypatch.setattr(setup, "subprocess", fake)
    setup.install([Requirement("accelerate>=1.0")], ["torch==2.9.0", "ipykernel==6.17.1"])
    assert fake.command[-1] == "accelerate>=1.0" and fake.command[1:4] == ["-m", "pip", "install"]
    assert fake.constraints == ["torch==2.9.0", "ipykernel==6.17.1"]


def test_a_failed_install_stops_with_what_it_tried(monkeypatch):
    monkeypatch.setattr(setup, "subprocess", FakeSubprocess(1))
    with pytest.raises(SystemExit, match=r"accelerate>=1\.0.*torch==2\.9\.0"):
        setup.install([Requirement("accelerate>=1.0")], ["torch==2.9.0"])


# ---- scripts/set_repository.py: one command points every copy of the address at a fork ----------------------------

FORK = "https://github.com/me/my-fork"
ADDRESS_FILES = ["pyproject.toml", "README.md", "TEACHING.md", "notebooks/colab_cell.py",
                 *(f"notebooks/{name}" for name in LESSONS)]
repoint = load_script("set_repository")


def kit_copy(tmp_path):
    """Copy the files that carry the address, and the script, into a folder laid out like the repository."""
    for name in [*ADDRESS_FILES, "scripts/set_repository.py"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((REPO_ROOT / name).read_bytes())
    return tmp_path


def test_set_repository_points_pyproject_the_colab_cell_every_lesson_and_readme_at_a_fork(tmp_path):
    import nbformat

    root = kit_copy(tmp_path)
    old = repository_url()
    changed = repoint.set_repository(repoint.checked(FORK + ".git/"), root)  # as copied from GitHub's clone button
    assert {path.relative_to(root).as_posix() for path in changed} == set(ADDRESS_FILES) - {"TEACHING.md"}
    assert tomllib.loads((root / "pyproject.toml").read_text())["project"]["urls"]["Repository"] == FORK
    cell = (root / "notebooks" / "colab_cell.py").read_text()
    assert re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", cell) == [FORK]
    for name in LESSONS:
        first = next(c for c in nbformat.read(root / "notebooks" / name, as_version=4).cells if c.cell_type == "code")
        assert first.source.strip() == cell.strip(), name
    readme = (root / "README.md").read_text()
    assert sorted(re.findall(r"colab\.research\.google\.com/github/me/my-fork/blob/main/notebooks/([\w.-]+)",
                             readme)) == LESSONS
    for name in ADDRESS_FILES:
        assert old.removeprefix("https://github.com/") not in (root / name).read_text(), f"{name} names {old}"
    assert repoint.set_repository(FORK, root) == [], "a second run changes nothing"


def test_set_repository_refuses_an_address_colab_cannot_open():
    with pytest.raises(SystemExit, match=r"^set_repository: 'https://gitlab\.com/me/my-fork' is not a GitHub "
                                         r"repository address; give one like https://github\.com/me/my-fork"):
        repoint.checked("https://gitlab.com/me/my-fork")
    assert repoint.checked(" https://github.com/me/my-fork/ ") == FORK


@pytest.mark.slow
def test_the_set_repository_command_repoints_a_copy_of_the_kit_and_says_what_it_changed(tmp_path):
    import subprocess
    import sys

    root = kit_copy(tmp_path)
    result = subprocess.run([sys.executable, str(root / "scripts" / "set_repository.py"), FORK],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "repointed pyproject.toml"
    assert len(lines) == (len(ADDRESS_FILES) - 1) + 1, "a line per file but TEACHING.md (no address), then the summary"
    assert lines[-1] == f"The kit now points at {FORK}. Rebuild the course site with `make site`."
    assert tomllib.loads((root / "pyproject.toml").read_text())["project"]["urls"]["Repository"] == FORK


def test_the_course_site_takes_its_repository_from_pyproject():
    import runpy

    conf = runpy.run_path(str(REPO_ROOT / "site" / "conf.py"))
    assert conf["html_theme_options"]["repository_url"] == repository_url()
