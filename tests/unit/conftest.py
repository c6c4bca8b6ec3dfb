"""A `pytest -m fuzz` run draws fresh hypothesis examples; every other run replays fixed ones."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Before the test modules are imported: their @settings read this at import time.
    if "fuzz" in (config.option.markexpr or "").replace("not fuzz", ""):
        os.environ["ONEASSIST_FUZZ"] = "1"
