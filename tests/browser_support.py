"""Headless Chromium for the tests that open a page as a reader would (Debian's chromium)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import subprocess
import threading
from pathlib import Path

import pytest


def chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("chromium is missing: `make chromium` installs it (make test does)")
    return browser


def _flags(profile: Path) -> list:
    return [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,1600"]


def dump_dom(url: str, profile: Path) -> str:
    """The DOM of ``url`` after its scripts ran, as Chromium serialises it."""
    return subprocess.run(_flags(profile) + ["--virtual-time-budget=3000", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120).stdout


def print_pdf(url: str, pdf: Path, profile: Path) -> Path:
    """``url`` printed to PDF (the page's @media print styles apply)."""
    subprocess.run(_flags(profile) + ["--no-pdf-header-footer", f"--print-to-pdf={pdf}", url],
                   capture_output=True, timeout=120)
    return pdf


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@contextlib.contextmanager
def serve(folder: Path):
    """A static web server on 127.0.0.1 for ``folder``; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
