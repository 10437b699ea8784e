"""The repository stands on its own: no tracked file names a folder of a particular
machine (a home, temp or work folder), and no test or library module reads a file
outside the repository.

A clone on someone else's machine must build, test and read the same as here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Absolute folders that belong to one machine. Written as fragments so this file does not
# match itself.
MACHINE_PATHS = re.compile(r"(?<![\w.~-])(?:" + "|".join([
    r"/" + r"home/[A-Za-z0-9_.-]+/",
    r"/" + r"Users/[A-Za-z0-9_.-]+/",
    r"/" + r"root/",
    r"/" + r"work/",
    r"/" + r"tmp/[A-Za-z0-9_.-]+",
    r"[A-Z]:\\\\Users\\\\",
]) + ")")
# Lines where such a path is the point (a test proving refusal of one, a documented default).
ALLOWED = (
    ("tests/test_self_contained.py", None),  # this file's own patterns
)


def _tracked() -> list:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.fail("the repository's tracked files cannot be listed (git ls-files failed)")
    return [ROOT / p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def test_no_tracked_file_names_a_folder_of_one_machine():
    files = _tracked()
    assert len(files) > 100
    found = []
    for f in files:
        rel = f.relative_to(ROOT).as_posix()
        if any(rel == a for a, _ in ALLOWED) or not f.is_file():
            continue
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (images) hold no paths we write
        for n, line in enumerate(text.split("\n"), 1):
            for m in MACHINE_PATHS.finditer(line):
                if _harmless(rel, line, m.group(0)):
                    continue
                found.append(f"{rel}:{n}: {line.strip()[:120]}")
    assert not found, "machine paths in tracked files:\n" + "\n".join(found)


def _harmless(rel: str, line: str, path: str) -> bool:
    """``/tmp/x`` in a test that builds a hostile path on purpose, or a path a user types in
    documentation as an example of their own (not this machine's)."""
    if path.startswith("/tmp/") and rel.startswith("tests/") and ("refus" in line or "hostile" in line):
        return True
    if rel.startswith("tests/") and (" not in " in line or "re.compile(" in line):
        return True  # a test asserting such paths are absent, or the pattern it looks for
    return False


def test_no_test_reads_outside_the_repository():
    """Tests take their data from the repository (or make it in a temporary folder);
    none reads a fixed path elsewhere, such as a research folder beside the checkout."""
    bad = []
    for f in sorted((ROOT / "tests").rglob("*.py")):
        if f.name == Path(__file__).name:
            continue
        text = f.read_text(encoding="utf-8")
        for n, line in enumerate(text.split("\n"), 1):
            if re.search(r"""["'](\.\./|\.\./\.\./)shared""", line) or "parent.parent.parent" in line:
                bad.append(f"{f.relative_to(ROOT).as_posix()}:{n}: {line.strip()[:120]}")
    assert not bad, "\n".join(bad)
