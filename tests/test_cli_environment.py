"""Environment events are not bugs: output that cannot be written (stdout closed early, a
full disk), a worker process that dies, Ctrl-C. `rulecite eval` says what happened in one
line, with no traceback, and exits non-zero: 4 (the output is incomplete) or 130 (Ctrl-C)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_support import LIBRARY

RULECITE = Path(sys.executable).parent / "rulecite"

pytestmark = pytest.mark.skipif(not RULECITE.exists() or shutil.which("bash") is None,
                                reason="needs the installed rulecite script and bash")


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    path = tmp_path_factory.mktemp("env") / "facts.jsonl"
    subprocess.run([str(RULECITE), "synth", str(LIBRARY), "40000", "--seed", "3"], stdout=path.open("wb"),
                   check=True, timeout=300)
    return path


def one_line_message(stderr: str, *words):
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1, stderr
    for w in words:
        assert w in lines[0], stderr


def test_stdout_closed_early_exits_4(facts):
    p = subprocess.run(["bash", "-c", f"'{RULECITE}' eval '{LIBRARY}' '{facts}' -q | head -c 100 >/dev/null; "
                                      "echo \"status ${PIPESTATUS[*]}\" >&2"],
                       capture_output=True, text=True, timeout=300)
    assert p.stderr.splitlines()[-1] == "status 4 0", p.stderr
    one_line_message("\n".join(p.stderr.splitlines()[:-1]), "closed", "incomplete")


def test_a_full_disk_exits_4():
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    with open("/dev/full", "w") as full:
        p = subprocess.run([str(RULECITE), "eval", str(LIBRARY), str(LIBRARY.parent.parent / "hostile" / "facts"
                                                                          / "truncated.jsonl"), "-q"],
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 4, p.stderr
    one_line_message(p.stderr, "No space left on device", "incomplete")


def start_jobs_run(facts, *extra):
    return subprocess.Popen([str(RULECITE), "eval", str(LIBRARY), str(facts), "-q", "--jobs", "2", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def wait_for_output(p):
    first = p.stdout.readline()  # the workers are running once results come back
    assert json.loads(first)["input_line"] == 1


def finish(p):
    try:
        p.stdout.read()
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    return err.decode("utf-8", "replace")


def test_ctrl_c_with_jobs_exits_130_without_a_traceback(facts):
    """The terminal sends SIGINT to the whole process group: the workers ignore it, the
    main process stops the run and says so."""
    p = start_jobs_run(facts)
    wait_for_output(p)
    os.killpg(p.pid, signal.SIGINT)
    err = finish(p)
    assert p.returncode == 130, err
    one_line_message(err, "interrupted", "incomplete")


def worker_pids(pid: int) -> list:
    """The pool's worker processes among ``pid``'s children (not its resource tracker): spawned
    ones run ``spawn_main``; forked ones (Linux) have their parent's command line."""
    try:
        own = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        own = None
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = stat.rsplit(")", 1)[1].split()[1]
        if ppid == str(pid) and (b"spawn_main" in cmdline or cmdline == own):
            kids.append(int(entry.name))
    return sorted(kids)


def test_a_killed_worker_exits_4_without_a_traceback(facts):
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    p = start_jobs_run(facts)
    wait_for_output(p)
    deadline = time.monotonic() + 60
    while not worker_pids(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    kids = worker_pids(p.pid)
    assert kids, "no worker process found"
    os.kill(kids[0], signal.SIGKILL)
    err = finish(p)
    if p.returncode == 0:
        pytest.skip("the run finished before the worker was killed")
    assert p.returncode == 4, err
    one_line_message(err, "worker process", "incomplete")
