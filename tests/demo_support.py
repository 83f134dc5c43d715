"""What the demo tests need beyond the core install: the `demo` extra, and for the browser tests Playwright
with a system Chromium (Debian's `chromium`) and ffmpeg (Gradio's streaming video uses it).

Where they are missing the demo tests skip; CI sets SANAVIDEO_REQUIRE_DEMO=1 and installs them, so there a
missing piece fails instead of hiding."""

from __future__ import annotations

import importlib
import os
import shutil

import pytest

REQUIRED = os.environ.get("SANAVIDEO_REQUIRE_DEMO") == "1"


def _missing(what: str) -> None:
    if REQUIRED:
        pytest.fail(f"SANAVIDEO_REQUIRE_DEMO=1 but {what} is missing")
    pytest.skip(f"{what} is missing (install the demo extra, chromium and ffmpeg to run this)")


def require_demo_extra() -> None:
    try:
        importlib.import_module("gradio")
    except ImportError:
        _missing('the demo extra (pip install -e ".[demo]")')


def require_browser() -> str:
    """The Chromium executable; Playwright must be importable too."""
    require_demo_extra()
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError:
        _missing("playwright (pip install -e '.[dev]')")
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            _missing(f"{tool} (apt-get install ffmpeg)")
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    _missing("a Chromium browser (apt-get install chromium)")
