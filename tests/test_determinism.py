"""The determinism matrix: the same pack and facts give the same bytes out.

Each cell runs ``rulecite eval`` in a fresh process (so hash seeds, import order and
process state really differ) on the same input and compares its stdout and its
decision log, byte for byte, with a baseline run:

- a second run, and runs with ``PYTHONHASHSEED`` 0, 1 and 4242 (the baseline uses a
  random seed, as Python does by default);
- ``--jobs 2`` (the input is long enough to be cut into several chunks);
- ``--engine dask`` (a local cluster of two workers);
- a run whose wall clock says it is 2099: ``time.*`` and ``datetime``'s ``now`` /
  ``today`` are faked before rulecite is imported, so any use of the clock in
  evaluation would change the bytes (the results record the clock they used:
  ``as_of``, never "now").

The input mixes everything that could leak order: the bundled CMS pack's synthetic
records (history, notes, sets, many rules firing at once), records given in a
different key order, a subject that comes back later, and broken lines (rejections).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .cli_support import run

RECORDS = 5_000  # more than parallel.CHUNK_LINES twice over: --jobs 2 really splits the input


def _shuffled_keys(line: str, salt: int) -> str:
    """The same record with its keys (at every level) in another order."""

    def turn(v):
        if isinstance(v, dict):
            items = list(v.items())
            k = salt % len(items) if items else 0
            return {key: turn(val) for key, val in items[k:] + items[:k]}
        if isinstance(v, list):
            return [turn(x) for x in v]
        return v

    return json.dumps(turn(json.loads(line)), ensure_ascii=False)


@pytest.fixture(scope="module")
def facts(tmp_path_factory) -> Path:
    synth = run(["synth", "cms-care-management", RECORDS, "--seed", "11"])
    assert synth.exit_code == 0, synth.output
    lines = synth.stdout.splitlines()
    assert len(lines) == RECORDS
    for i in range(3, RECORDS, 97):
        lines[i] = _shuffled_keys(lines[i], i)
    lines[10] = "{not json"
    lines[2500] = lines[2500][: len(lines[2500]) // 2]  # a truncated line, right where a chunk may end
    lines.insert(4000, lines[5])  # a subject seen again later: a note, in every engine alike
    path = tmp_path_factory.mktemp("determinism") / "facts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# Loaded by the fake-clock run before anything else (python -c): every way Python reads
# the wall clock says 2099-06-15.
FAKE_CLOCK = textwrap.dedent("""
    import datetime, sys, time

    FUTURE = 4085467200.0  # 2099-06-15T00:00:00Z
    time.time = lambda: FUTURE
    time.time_ns = lambda: int(FUTURE * 1e9)
    _localtime, _gmtime, _ctime = time.localtime, time.gmtime, time.ctime
    time.localtime = lambda s=None: _localtime(FUTURE if s is None else s)
    time.gmtime = lambda s=None: _gmtime(FUTURE if s is None else s)
    time.ctime = lambda s=None: _ctime(FUTURE if s is None else s)
    _strftime = time.strftime
    time.strftime = lambda f, t=None: _strftime(f, _localtime(FUTURE) if t is None else t)

    class date(datetime.date):
        @classmethod
        def today(cls):
            return datetime.date(2099, 6, 15)

    class dt(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime(2099, 6, 15, 12, 0, 0, tzinfo=tz)

        @classmethod
        def utcnow(cls):
            return datetime.datetime(2099, 6, 15, 12, 0, 0)

        @classmethod
        def today(cls):
            return datetime.datetime(2099, 6, 15, 12, 0, 0)

    datetime.date = date
    datetime.datetime = dt
    assert time.time() == FUTURE and datetime.date.today().year == 2099
    from rulecite.cli.main import main
    sys.argv = ["rulecite"] + sys.argv[1:]
    main()
""")


def _eval(facts: Path, log: Path, *extra, hashseed: str = "random", fake_clock: bool = False) -> bytes:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    head = [sys.executable, "-c", FAKE_CLOCK] if fake_clock else [sys.executable, "-m", "rulecite.cli.main"]
    args = ["eval", "cms-care-management", str(facts), "-q", "--decision-log", str(log), *extra]
    proc = subprocess.run(head + args, env=env, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    assert b"Traceback" not in proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def baseline(facts, tmp_path_factory):
    log = tmp_path_factory.mktemp("baseline") / "decisions.jsonl"
    out = _eval(facts, log)
    return out, log.read_bytes()


def test_the_baseline_covers_what_could_leak_order(baseline):
    out, log = baseline
    rows = [json.loads(x) for x in out.splitlines()]
    assert len(rows) == RECORDS + 1  # one output per input line, rejections included
    rejections = [r for r in rows if r.get("rejected")]
    assert len(rejections) >= 2
    results = [r for r in rows if not r.get("rejected")]
    assert sum(len(r["findings"]) for r in results) > RECORDS  # many findings: their order matters
    assert any(len(r["findings"]) >= 3 for r in results)
    assert any(r.get("notes") for r in results)  # the subject that came back
    assert len(log.splitlines()) == RECORDS + 1 + 2  # an entry per record, the run's header and footer


CELLS = {
    "second run": {},
    "PYTHONHASHSEED=0": {"hashseed": "0"},
    "PYTHONHASHSEED=1": {"hashseed": "1"},
    "PYTHONHASHSEED=4242": {"hashseed": "4242"},
    "--jobs 2": {"extra": ("--jobs", "2")},
    "--jobs 2, PYTHONHASHSEED=7": {"extra": ("--jobs", "2"), "hashseed": "7"},
    "clock faked to 2099": {"fake_clock": True},
    "--engine dask": {"extra": ("--engine", "dask")},
}


@pytest.mark.parametrize("cell", list(CELLS))
def test_same_bytes(cell, facts, baseline, tmp_path):
    spec = CELLS[cell]
    log = tmp_path / "decisions.jsonl"
    out = _eval(facts, log, *spec.get("extra", ()), hashseed=spec.get("hashseed", "random"),
                fake_clock=spec.get("fake_clock", False))
    want_out, want_log = baseline
    assert out == want_out, _first_difference(out, want_out)
    got_log, stamps = _without_stamps(log.read_bytes())
    want_log, _ = _without_stamps(want_log)
    assert got_log == want_log, _first_difference(got_log, want_log)
    if spec.get("fake_clock"):
        # The CLI stamps when it wrote the log (the one wall-clock read, outside
        # evaluation): proof that the fake clock reached rulecite.
        assert stamps == {"2099-06-15T12:00:00Z"}


def _without_stamps(log: bytes) -> tuple[bytes, set]:
    """The decision log without its `logged_at` stamp (documented as when the run started,
    kept in its footer: the only wall-clock value rulecite writes), and the stamps seen.
    Every other byte counts, the hash chain (`prev`) included."""
    entries = [json.loads(x) for x in log.splitlines()]
    stamps = {e.pop("logged_at") for e in entries if "logged_at" in e}
    return b"\n".join(json.dumps(e, sort_keys=False).encode() for e in entries), stamps


def test_the_fake_clock_really_is_in_the_future():
    """The fake-clock cell would prove nothing if the patch did not take."""
    probe = FAKE_CLOCK.split("from rulecite.cli.main")[0] + textwrap.dedent("""
        import datetime as d2, time as t2
        print(t2.time(), d2.date.today(), d2.datetime.now().year, t2.strftime("%Y"))
    """)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["4085467200.0", "2099-06-15", "2099", "2099"]


def _first_difference(a: bytes, b: bytes) -> str:
    for n, (x, y) in enumerate(zip(a.splitlines(), b.splitlines()), 1):
        if x != y:
            return f"line {n} differs:\n  got  {x[:300]!r}\n  want {y[:300]!r}"
    return f"lengths differ: {len(a.splitlines())} vs {len(b.splitlines())} lines"
