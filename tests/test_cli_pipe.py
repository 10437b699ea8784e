"""Piping through real processes: ``synth | eval - | head`` exits cleanly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_support import LIBRARY

RULECITE = Path(sys.executable).parent / "rulecite"

pytestmark = pytest.mark.skipif(not RULECITE.exists() or shutil.which("bash") is None,
                                reason="needs the installed rulecite script and bash")


def bash(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)


def test_synth_eval_head_exits_cleanly():
    p = bash(f"set -o pipefail; '{RULECITE}' synth '{LIBRARY}' 30000 --seed 5 "
             f"| '{RULECITE}' eval '{LIBRARY}' - --output jsonl | head -n 3; echo \"status ${{PIPESTATUS[*]}}\"")
    lines = p.stdout.splitlines()
    assert len(lines) == 4, p.stdout + p.stderr
    for line in lines[:3]:
        assert json.loads(line)["pack"]["name"] == "library-loans"
    # eval could not write all its results: it says so in one line and exits 4 (synth, cut
    # off by eval in turn, stays quiet)
    assert lines[3] == "status 0 4 0", p.stderr
    assert "standard output was closed before all results were written" in p.stderr
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr
    assert "Exception ignored" not in p.stderr


def test_table_output_into_head():
    p = bash(f"'{RULECITE}' synth '{LIBRARY}' 20000 | '{RULECITE}' eval '{LIBRARY}' - -o table | head -n 2; "
             "echo \"status ${PIPESTATUS[*]}\"")
    assert p.stdout.splitlines()[-1] == "status 0 4 0", p.stderr
    assert "Traceback" not in p.stderr


def test_stderr_summary_is_not_in_stdout():
    p = bash(f"'{RULECITE}' synth '{LIBRARY}' 50 | '{RULECITE}' eval '{LIBRARY}' - 2>/dev/null | wc -l")
    assert p.stdout.strip() == "50"
    q = bash(f"'{RULECITE}' synth '{LIBRARY}' 50 | '{RULECITE}' eval '{LIBRARY}' - 2>&1 >/dev/null")
    assert "50 records read" in q.stdout
    assert "\r" not in q.stdout  # no progress bar off a terminal
