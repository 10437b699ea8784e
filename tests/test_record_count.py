"""Never lose a record: on a 100,000-record file with 1% broken lines, every line read
gives exactly one output, results + rejections = records read, and the rejections are
exactly the broken lines, each with its line number, JSON path and reason.

Checked three ways: the API (``evaluate`` over the file's raw lines), the CLI in one
process, and the CLI with ``--jobs 2`` (whose chunking must not drop or double a line).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rulecite.interpreter import Rejection, Result, evaluate, load_pack

PACK = Path(__file__).resolve().parent.parent / "benchmarks" / "anchor-pack"
N = 100_000
CODES = ["G0556", "G0557", "G0558", "99490", "99439", "99491", "99484", "G0511"]


def _good(rng: random.Random, i: int) -> dict:
    month = f"2026-{rng.randint(1, 12):02d}"
    return {"patient_id": f"P{i // 3:06d}", "month": month,
            "claims": [{"line": k + 1, "code": rng.choice(CODES), "npi": "1467503219",
                        "date": f"{month}-{rng.randint(1, 28):02d}", "units": rng.randint(1, 3)}
                       for k in range(rng.randint(1, 3))],
            "patient": {"qmb": rng.random() < 0.5},
            "consents": [{"program": "CCM", "date": f"{month}-01"}],
            "time": [{"program": "CCM", "role": "clinical_staff", "minutes": rng.choice([10, 20, 45])}]}


def _dump(rec) -> bytes:
    return json.dumps(rec, separators=(",", ":")).encode()


# Every way a line can be broken; each takes a good record and returns the bad line.
BREAKERS = {
    "not JSON": lambda r: b"this is not json",
    "truncated": lambda r: _dump(r)[: len(_dump(r)) // 2],
    "empty": lambda r: b"",
    "only spaces": lambda r: b"   \t ",
    "an array, not an object": lambda r: _dump([r]),
    "a number, not an object": lambda r: b"42",
    "wrong type": lambda r: _dump({**r, "claims": [{**r["claims"][0], "units": "two"}]}),
    "missing id": lambda r: _dump({k: v for k, v in r.items() if k != "patient_id"}),
    "huge number": lambda r: _dump(r).replace(b'"units":', b'"units":1' + b"0" * 400, 1),
    "deep nesting": lambda r: _dump({**r, "patient": {"qmb": False, "extra": None}}).replace(
        b'"extra":null', b'"extra":' + b"[" * 3000 + b"]" * 3000),
    "invalid UTF-8": lambda r: _dump(r).replace(b'"P', b'"\xff\xfeP', 1),
    "February 30": lambda r: _dump({**r, "claims": [{**r["claims"][0], "date": "2026-02-30"}]}),
    "month 13": lambda r: _dump({**r, "month": "2026-13"}),
    "duplicate key": lambda r: _dump(r).replace(b'{"patient_id":', b'{"patient_id":"DUP","patient_id":', 1),
    "NUL byte": lambda r: b"\x00" + _dump(r),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """(path, line numbers of the broken lines, kind of each broken line)."""
    rng = random.Random(20261123)
    broken_at = sorted(rng.sample(range(1, N + 1), N // 100))
    kinds = sorted(BREAKERS)
    kind_of = {n: kinds[i % len(kinds)] for i, n in enumerate(broken_at)}
    out = []
    for n in range(1, N + 1):
        rec = _good(rng, n)
        if n in kind_of:
            out.append(BREAKERS[kind_of[n]](rec))
        elif n % 1000 == 7:
            out.append(_dump(rec) + b"\r")  # CRLF line ends are fine, not broken
        else:
            out.append(_dump(rec))
    path = tmp_path_factory.mktemp("count") / "facts.jsonl"
    path.write_bytes(b"\n".join(out) + b"\n")
    return path, broken_at, kind_of


def test_the_corpus_is_what_it_claims(corpus):
    path, broken_at, kind_of = corpus
    assert path.read_bytes().count(b"\n") == N
    assert len(broken_at) == N // 100
    assert set(kind_of.values()) == set(BREAKERS)  # every kind of breakage appears


def test_api_read_equals_results_plus_rejections(corpus):
    path, broken_at, kind_of = corpus
    pack = load_pack(PACK)
    results = rejections = 0
    rejected_lines = []
    with path.open("rb") as f:
        for n, out in enumerate(evaluate(pack, f), 1):
            assert out.input_line == n  # one output per line, in order: nothing dropped or doubled
            if isinstance(out, Rejection):
                rejections += 1
                rejected_lines.append(n)
                assert out.path.startswith("$") and out.reason, out.to_dict()
            else:
                assert isinstance(out, Result)
                results += 1
    assert n == N
    assert results + rejections == N
    assert rejected_lines == broken_at, [(x, kind_of.get(x)) for x in set(rejected_lines) ^ set(broken_at)][:10]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cli_read_equals_results_plus_rejections(corpus, tmp_path, jobs):
    path, broken_at, _ = corpus
    out_path, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    with out_path.open("wb") as out:
        proc = subprocess.run([sys.executable, "-m", "rulecite.cli.main", "eval", str(PACK), str(path),
                               "--jobs", jobs, "--rejects", str(rejects)],
                              stdout=out, stderr=subprocess.PIPE, timeout=900)
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr[-2000:]
    m = re.search(r"([\d,]+) records read: ([\d,]+) results?, ([\d,]+) rejections?", stderr)
    assert m, stderr[:2000]
    read, results, rejected = (int(x.replace(",", "")) for x in m.groups())
    assert (read, results, rejected) == (N, N - N // 100, N // 100)
    outputs = out_path.read_bytes().splitlines()
    assert len(outputs) == N
    lines_of_rejections = [json.loads(x)["input_line"] for x in outputs if x.startswith(b'{"rejected":true')]
    assert lines_of_rejections == broken_at
    assert [json.loads(x)["input_line"] for x in rejects.read_bytes().splitlines()] == broken_at
