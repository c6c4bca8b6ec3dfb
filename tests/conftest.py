"""Fixtures shared by every test layer; the sample loader comes first.

`load_sample(name)` returns the raw bytes of tests/samples/NAME exactly as stored, so
tests see the CRLF, charsets and transfer encodings a real mail program produced.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SAMPLES = Path(__file__).parent / "samples"


def load_sample(name: str) -> bytes:
    """Raw bytes of one sample mail from tests/samples/."""
    return (SAMPLES / name).read_bytes()


@pytest.fixture
def sample() -> Callable[[str], bytes]:
    """The sample loader, for tests that prefer a fixture to an import."""
    return load_sample
