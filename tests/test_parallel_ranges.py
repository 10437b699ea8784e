"""``rulecite eval --jobs`` on a file: the caller cuts the file into byte ranges
(``ranges.file_chunks``) and each worker reads its own (``ranges.FileLines``). The
lines are those one process reads (``read_lines``), the cuts those of a stream of
lines (``line_chunks``), and the results those of one process, with the workers forked
(Linux, no other thread) or spawned."""

import io
import json
import random
import subprocess
import threading

import pytest

from rulecite.interpreter import Limits, evaluate, load_pack
from rulecite.interpreter.engine import parallel as par
from rulecite.interpreter.engine import ranges
from rulecite.interpreter.engine.reading import OversizedLine, read_lines

from tests.test_parallel_finished import ANCHOR, anchor_lines


def odd_lines(seed, n=300):
    """Lines of a few subjects in runs, with empty lines, junk, lines of exactly the limit
    and just past it, and (maybe) no newline at the end."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.05:
            out.append(b"\n")
        elif r < 0.1:
            out.append(b"junk\n")
        elif r < 0.15:
            out.append(b'{"member_id":"M9","pad":"' + b"x" * rng.choice([60, 61, 62, 63, 500]) + b'"}\n')
        else:
            out.append(json.dumps({"member_id": rng.choice(["M1", "M2", "M3"]), "n": rng.randint(0, 9)}).encode()
                       + b"\n")
        if rng.random() < 0.3:
            out += [out[-1]] * rng.randint(1, 6)
    if seed % 2:
        out[-1] = out[-1].rstrip(b"\n")
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("block, step", [(7, 3), (64, 64), (64, 1 << 16), (1 << 20, 5), (1 << 20, 1 << 16)])
def test_file_chunks_cut_as_line_chunks_and_read_as_read_lines(tmp_path, monkeypatch, seed, block, step):
    monkeypatch.setattr(ranges, "BLOCK", block)
    monkeypatch.setattr(ranges, "STEP", step)
    limit = 80  # the 500-byte lines are oversized; some of the others are just at the limit
    data = b"".join(odd_lines(seed))
    f = tmp_path / "facts.jsonl"
    f.write_bytes(data)
    lines = list(read_lines(io.BytesIO(data), limit))
    assert any(type(x) is OversizedLine for x in lines)
    id_of = ranges.IdReader("member_id")
    for lo, hi in ((1, 1), (2, 3), (5, 9), (40, 80), (1000, 2000)):
        want = [(s, list(c)) for s, c in ranges.line_chunks(iter(lines), id_of, lo, hi)]
        got = list(ranges.file_chunks(str(f), id_of, limit, lo, hi))
        assert [(s, list(c)) for s, c in got] == want, (lo, hi)
        assert sum(len(c) for _, c in got) == len(lines)


def test_an_empty_file_has_no_chunk(tmp_path):
    f = tmp_path / "empty.jsonl"
    f.write_bytes(b"")
    assert list(ranges.file_chunks(str(f), ranges.IdReader("id"), 100, 5, 9)) == []


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    lines = anchor_lines(900)  # subjects that come back (notes), junk, a record out of coverage
    lines.insert(300, b'{"patient_id":"P00001","pad":"' + b"y" * 3000 + b'"}\n')  # over the limit below
    f = tmp_path_factory.mktemp("ranges") / "facts.jsonl"
    f.write_bytes(b"".join(lines))
    return f, lines


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_reading_the_file_give_the_single_process_bytes(facts, monkeypatch, method):
    f, lines = facts
    monkeypatch.setattr(par, "CHUNK_LINES", 7)
    monkeypatch.setattr(par, "MAX_CHUNK_LINES", 9)
    monkeypatch.setattr(par, "_start_method", lambda: method)
    lim = Limits(max_record_bytes=2000, max_group=3)
    one = [r.to_json() for r in evaluate(load_pack(ANCHOR), lines, limits=lim)]
    got = list(par.evaluate_parallel(ANCHOR, None, jobs=2, limits=lim, finished=True, path=f))
    assert any(x.kind == "chunk" for x in got) and any(x.kind != "chunk" for x in got)  # some cuts repaired
    texts = []
    for x in got:
        if x.kind == "chunk":
            assert x.data == "".join(t + "\n" for t in x.texts).encode()
            texts += x.texts
        else:
            texts.append(x.to_json())
    assert texts == one
    assert any("also appears earlier" in t for t in texts) and any("limit is 2000" in t for t in texts)


def test_one_job_reads_the_file_too(facts):
    f, lines = facts
    one = [r.to_json() for r in evaluate(load_pack(ANCHOR), lines)]
    assert [r.to_json() for r in par.evaluate_parallel(ANCHOR, None, jobs=1, path=f)] == one


def test_fork_only_on_linux_with_one_thread(monkeypatch):
    monkeypatch.setattr(par.sys, "platform", "linux")
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert par._start_method() == "fork"
    monkeypatch.setattr(threading, "active_count", lambda: 2)
    assert par._start_method() == "spawn"  # a child would hold only the forking thread
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setattr(par.sys, "platform", "darwin")
    assert par._start_method() == "spawn"


def test_a_forked_worker_has_the_pack_and_the_caller_keeps_none(facts, monkeypatch):
    f, lines = facts
    monkeypatch.setattr(par, "_start_method", lambda: "fork")
    before = dict(par._WORKER)  # what this process evaluated itself (other tests)
    got = list(par.evaluate_parallel(ANCHOR, iter(lines), jobs=2))
    assert [r.to_json() for r in got] == [r.to_json() for r in evaluate(load_pack(ANCHOR), lines)]
    assert par._WORKER == before  # the evaluator handed to the workers is not kept here


def test_eval_jobs_reads_a_file_in_ranges_and_stdin_in_lines_with_the_same_bytes(facts, tmp_path):
    f, _ = facts
    rulecite = [str(ANCHOR.parent.parent / ".venv" / "bin" / "rulecite"), "eval", str(ANCHOR)]
    one = subprocess.run(rulecite + [str(f), "--max-record-bytes", "2000", "--max-group", "3"], capture_output=True)
    assert b"also appears earlier" in one.stdout and b"limit is 2000" in one.stdout
    for facts_arg, stdin in ((str(f), None), ("-", f.read_bytes())):
        two = subprocess.run(rulecite + [facts_arg, "--max-record-bytes", "2000", "--max-group", "3", "--jobs", "2"],
                             input=stdin, capture_output=True)
        assert (two.returncode, two.stdout, two.stderr.replace(b"<stdin>", str(f).encode())) == (
            one.returncode, one.stdout, one.stderr), facts_arg
