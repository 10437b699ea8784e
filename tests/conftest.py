"""Shared fixtures. Golden files are re-recorded only with ``--update-golden``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent
LIBRARY = TESTS / "packs" / "library"
BRANCH = TESTS / "packs" / "library-branch"


def pytest_configure(config):
    """The checked-pack cache of this test run lives in a private temporary folder
    (inherited by the subprocesses tests start), never in the user's ~/.cache."""
    import os
    import tempfile

    if "RULECITE_CACHE_DIR" not in os.environ:
        config._rulecite_cache = tempfile.mkdtemp(prefix="rulecite-test-cache-")
        os.environ["RULECITE_CACHE_DIR"] = os.path.join(config._rulecite_cache, "cache")
        # The entries' HMAC key, outside the cache folder as in real use.
        os.environ["RULECITE_CACHE_KEY_FILE"] = os.path.join(config._rulecite_cache, "config", "cache-key")


def pytest_unconfigure(config):
    import os

    folder = getattr(config, "_rulecite_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("RULECITE_CACHE_DIR", None)
        os.environ.pop("RULECITE_CACHE_KEY_FILE", None)


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="re-record golden files instead of comparing with them")


@pytest.fixture
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


def check_golden(path: Path, actual: str, update: bool):
    """Compare ``actual`` with the golden file at ``path`` (or re-record it)."""
    if update or not path.exists():
        if not update:
            pytest.fail(f"golden file {path.name} is missing; run pytest --update-golden and review git diff")
        path.write_text(actual, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"output differs from {path.name} (re-record with --update-golden)"


@pytest.fixture
def library_copy(tmp_path) -> Path:
    """A writable copy of the library example pack."""
    dst = tmp_path / "library"
    shutil.copytree(LIBRARY, dst)
    return dst
