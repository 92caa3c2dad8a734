"""Shared fixtures: the kit's small BERT, its tokenizer, Meditations' paragraphs; test-wide environment."""

import os
import socket
import tempfile

import pytest

os.environ.setdefault("KIT_QUICK", "1")  # unit tests never reach for the Hub
# Texts prepared by scripts/pretrain.py (helpers.pretraining.prepare) go to a temporary folder, not the user's cache; the
# subprocesses the tests start inherit it.
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


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
