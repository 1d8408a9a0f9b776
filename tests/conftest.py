"""Shared fixtures. The real-format samples live in ``../shared/data`` unless the
``LSTMATTN_SAMPLE_DATA`` environment variable points elsewhere; a missing folder is a
test *failure*, never a skip (CI must notice)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sample_data() -> Path:
    root = Path(os.environ.get("LSTMATTN_SAMPLE_DATA", PROJECT_ROOT.parent / "shared" / "data"))
    if not root.is_dir():
        pytest.fail(f"sample data folder not found: {root} (set LSTMATTN_SAMPLE_DATA)")
    return root
