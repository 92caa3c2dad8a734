"""tests/conftest.py fails a test of `make test-fast` that takes long, and leaves a marked test alone."""

import pytest

from helpers import REPO_ROOT

pytest_plugins = ["pytester"]

BURN = """
import time

def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
"""


@pytest.fixture
def suite(pytester):
    """A test suite with the kit's conftest, its limit lowered to 0.3 CPU seconds so that the tests stay cheap."""
    conftest = (REPO_ROOT / "tests" / "conftest.py").read_text(encoding="utf-8")
    assert "FAST_TEST_CPU_SECONDS = 10.0" in conftest
    pytester.makeconftest(conftest.replace("FAST_TEST_CPU_SECONDS = 10.0", "FAST_TEST_CPU_SECONDS = 0.3"))
    pytester.makeini("[pytest]\nmarkers =\n    lesson\n    slow\n    browser\n    gpu\n")
    return pytester


def test_an_unmarked_test_over_the_limit_fails_and_says_how_to_fix_it(suite):
    suite.makepyfile(BURN + """
def test_cheap():
    burn(0.05)

def test_costly():
    burn(0.6)
""")
    result = suite.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_costly took * CPU seconds*mark it with one of lesson, slow, browser, gpu*"])


def test_a_marked_test_may_take_longer(suite):
    suite.makepyfile(BURN + """
import pytest

@pytest.mark.slow
def test_costly():
    burn(0.6)
""")
    suite.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
