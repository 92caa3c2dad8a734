"""Shared fixtures (the kit's small BERT, its tokenizer, Meditations' paragraphs), test-wide environment, and the
guard that keeps `make test-fast` fast: a test without a mark for what makes it slow must stay cheap."""

import os
import resource
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("KIT_QUICK", "1")  # unit tests never reach for the Hub
# The kernels and scripts the tests start may share the cores with another test's (`make test` runs two at a time):
# their OpenMP threads must wait for a core without spinning, or both run many times slower
# (scripts/execute_lessons.py says how much).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The browser tests' screenshots: one folder for the whole run, made here and inherited by `make test`'s two workers
# (they start after this file is read); the run names it at its end (pytest_terminal_summary, below).
SCREENSHOTS = Path(os.environ.setdefault("KIT_SCREENSHOTS", tempfile.mkdtemp(prefix="kit-widget-screenshots-")))
# Texts prepared by scripts/pretrain.py (helpers.pretraining.prepare) go to a temporary folder, not the user's cache;
# the subprocesses the tests start inherit it.
os.environ.setdefault("KIT_DATA_CACHE", tempfile.mkdtemp(prefix="kit-prepared-"))


@pytest.fixture(scope="session")
def tokenizer():
    from helpers.models import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def paragraphs():
    from helpers import MEDITATIONS
    from helpers.corpus import read_paragraphs

    return read_paragraphs(MEDITATIONS)


@pytest.fixture
def pretraining_model():
    from helpers.models import load_model

    return load_model("pretraining", verbose=False)[1]


def built_site(folder: Path) -> Path:
    """Build the course site and copy it to `folder`, both under the site's lock; return `folder`.

    Two test modules build the site (tests/test_site.py, tests/browser/test_site_in_browser.py), and `make test` may
    run them at once: each reads its own copy, which the other's build cannot change half way.
    """
    import build_site  # scripts/build_site.py: the modules that call this put scripts/ on sys.path

    with build_site.site_lock():
        build_site.build_site()  # SystemExit, with Sphinx's warnings printed, if any warning or error
        shutil.copytree(build_site.OUTPUT, folder)
    return folder


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The marks (pyproject.toml) of tests that `make test-fast` leaves out.
HEAVY_MARKS = ("lesson", "slow", "browser", "gpu")
# A test with none of them runs in `make test-fast`, which must answer in about a minute on 2 cores: one that spends
# more CPU time than this (its own and its child processes', its setup included) fails and names the marks.
# CPU time, not wall time: on a shared machine the clock also counts everyone else's work.
FAST_TEST_CPU_SECONDS = 10.0
_SETUP_CPU = pytest.StashKey[float]()


def cpu_seconds() -> float:
    """Return the CPU time used so far by this process and by its child processes that have ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pytest_configure(config):
    import torch

    # The tests' tensors are tiny: a second thread makes them no faster, and on a busy machine the two threads wait
    # for each other, spinning, which makes a test many times slower and its CPU time many times larger (the guard
    # below counts CPU time). Lessons and scripts the tests start run in their own processes, with their own threads.
    torch.set_num_threads(1)


def pytest_collection_modifyitems(items):
    # `make test` runs the tests on two workers, each taking more from the other's queue when its own is empty
    # (--dist worksteal): the long tests (the marked ones) go first, so that the run does not end on one of them
    # while the other worker has nothing left to do. The order among them, and among the rest, is unchanged.
    items.sort(key=lambda item: not any(item.get_closest_marker(mark) for mark in HEAVY_MARKS))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    start = cpu_seconds()
    try:
        return (yield)
    finally:
        item.stash[_SETUP_CPU] = cpu_seconds() - start


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    start = cpu_seconds()
    result = yield
    spent = item.stash.get(_SETUP_CPU, 0.0) + cpu_seconds() - start
    if spent > FAST_TEST_CPU_SECONDS and not any(item.get_closest_marker(mark) for mark in HEAVY_MARKS):
        pytest.fail(f"{item.nodeid} took {spent:.0f} CPU seconds, over the {FAST_TEST_CPU_SECONDS:.0f} s a test of "
                    f"`make test-fast` may take: make it cheaper, or mark it with one of {', '.join(HEAVY_MARKS)} "
                    "(pyproject.toml says which)", pytrace=False)
    return result


def pytest_terminal_summary(terminalreporter):
    shots = sorted(SCREENSHOTS.glob("*.png"))
    if shots:
        terminalreporter.write_line(f"widget screenshots: {SCREENSHOTS} ({', '.join(p.name for p in shots)})")
    else:
        shutil.rmtree(SCREENSHOTS, ignore_errors=True)
