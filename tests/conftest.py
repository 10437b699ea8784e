"""Shared fixtures. Golden files are re-recorded only with ``--update-golden``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent
LIBRARY = TESTS / "packs" / "library"
BRANCH = TESTS / "packs" / "library-branch"


def _hypothesis_profile():
    """Property tests run the same examples on every run (the suite is deterministic, and a
    clean clone's CI either passes or fails, never by luck); `HYPOTHESIS_PROFILE=explore`
    draws new examples each run to look for new failures (then add each one found as a
    regression test)."""
    import os

    from hypothesis import settings

    settings.register_profile("rulecite", derandomize=True, print_blob=True)
    settings.register_profile("explore", derandomize=False, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "rulecite"))


_hypothesis_profile()


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


# ---------------------------------------------------------------- no silent skips

# The only skips a run may have, each with why it is harmless. `make test` installs every
# extra and Chromium, so on Linux none of these happen either; they are for other
# operating systems. Any other skip fails the run (see pytest_sessionfinish).
ALLOWED_SKIPS = {
    "POSIX owners and modes": "Windows has no file owners and modes to check",
    "POSIX symlinks and FIFOs": "Windows has no FIFOs, and symlinks need privileges there",
    "needs /dev/zero": "only POSIX systems have /dev/zero",
    "needs /dev/full": "only Linux has /dev/full",
}


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _bad_skips(session) -> list:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return []
    return [(r.nodeid, _skip_reason(r)) for r in reporter.stats.get("skipped", [])
            if _skip_reason(r) not in ALLOWED_SKIPS]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    bad = _bad_skips(terminalreporter._session) if hasattr(terminalreporter, "_session") else []
    if bad:
        terminalreporter.section("skipped tests that may not skip", red=True)
        for nodeid, reason in bad:
            terminalreporter.line(f"{nodeid}: {reason}")
        terminalreporter.line("A skip fails the run unless its reason is listed in tests/conftest.py ALLOWED_SKIPS.")


def pytest_sessionfinish(session, exitstatus):
    if _bad_skips(session) and session.exitstatus == 0:
        session.exitstatus = 1


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


def grouped_lines_with_junk(seed: int, members: tuple) -> list:
    """JSON Lines of library records (``members`` as ids, random months) with junk lines,
    and runs of one record repeated (groups that pass a small ``max_group``): what the
    parallel tests cut into chunks and compare with one run."""
    import json
    import random

    rnd = random.Random(seed)
    lines = []
    for _ in range(300):
        if rnd.random() < 0.15:
            lines.append(b"junk\n")
        else:
            lines.append(json.dumps({"member_id": rnd.choice(members), "month": f"2025-{rnd.randint(1, 12):02d}",
                                     "loans": [{"line": 1, "item": rnd.choice(["EBOOK", "BOOK"])}]}).encode() + b"\n")
        if rnd.random() < 0.3:
            for _ in range(rnd.randint(1, 20)):
                lines.append(lines[-1] if rnd.random() < 0.7 else b"junk\n")
    return lines
