"""Shared fixtures. The real-format samples live in ``../shared/data`` unless the
``LSTMATTN_SAMPLE_DATA`` environment variable points elsewhere; a missing folder is a
test *failure*, never a skip (CI must notice).

The browser tests (``test_site``, ``test_explorer_browser``, ``test_built_book``) need
Debian's headless Chromium (``/usr/bin/chromium`` or ``$LSTMATTN_CHROMIUM``) and the
``playwright`` package; without them they are skipped, one line each, unless
``LSTMATTN_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns every such skip into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("LSTMATTN_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER = "LSTMATTN_REQUIRE_BROWSER"


def browser_unavailable(reason: str) -> NoReturn:
    """Skip a browser test, or fail it when ``$LSTMATTN_REQUIRE_BROWSER`` is ``1``."""
    if os.environ.get(REQUIRE_BROWSER) == "1":
        pytest.fail(f"{reason}; {REQUIRE_BROWSER}=1 does not allow skipping browser tests", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The headless Chromium binary (skips or fails the test when it is missing)."""
    if not CHROMIUM.is_file():
        browser_unavailable(f"headless Chromium not found at {CHROMIUM} (apt-get install -y chromium, "
                            "or set LSTMATTN_CHROMIUM)")
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright_api(chromium: Path) -> ModuleType:
    """``playwright.sync_api`` (the ``test`` extra installs it), once Chromium is there."""
    try:
        import playwright.sync_api
    except ImportError:
        browser_unavailable("the playwright package is not installed (pip install -e '.[test]')")
    return playwright.sync_api


@pytest.fixture(scope="session")
def sample_data() -> Path:
    root = Path(os.environ.get("LSTMATTN_SAMPLE_DATA", PROJECT_ROOT.parent / "shared" / "data"))
    if not root.is_dir():
        pytest.fail(f"sample data folder not found: {root} (set LSTMATTN_SAMPLE_DATA)")
    return root


def tiny_model_config(**overrides):
    """A very small ModelConfig for fast CPU tests (same architecture, smaller sizes)."""
    from dataclasses import replace

    from lstmattn.config import BackboneConfig, get_profile

    base = get_profile("quick").model
    tiny = replace(
        base,
        backbone=BackboneConfig(name="resnet18", out_channels=32),
        image_size=64,
        anchor_sizes=(8, 16, 32, 64, 128),
        rpn_pre_nms_top_n_train=200,
        rpn_pre_nms_top_n_test=100,
        rpn_post_nms_top_n_train=100,
        rpn_post_nms_top_n_test=50,
        box_representation_size=64,
        mask_head_layers=1,
        box_batch_size_per_image=64,
        roi_batch_size=4,
        lstm_hidden_size=32,
        classifier_hidden_size=16,
    )
    return replace(tiny, **overrides)


def segmentation_target(size: int = 64) -> dict:
    """One lung-like box and one lesion with matching masks, in a ``size``² image."""
    import torch

    masks = torch.zeros(2, size, size, dtype=torch.uint8)
    masks[0, 8:56, 6:30] = 1
    masks[1, 20:34, 12:24] = 1
    return {
        "boxes": torch.tensor([[6.0, 8.0, 30.0, 56.0], [12.0, 20.0, 24.0, 34.0]]),
        "labels": torch.tensor([1, 2]),
        "masks": masks,
    }
