"""``rulecite eval --jobs N`` with JSON output: the workers send finished chunks (their JSON
text, rejections, subject groups and counts: ``chunks.FinishedChunk``), and the caller
only adds the note on a subject that comes back and moves the bytes. The output, the
rejects file, the stderr summary and the exit code are those of one process."""

import json
import random
import subprocess
from pathlib import Path

import pytest

from rulecite.cli.eval_writers import Tally
from rulecite.interpreter import Limits, evaluate, load_pack
from rulecite.interpreter.engine import chunks
from rulecite.interpreter.engine import parallel as par

from tests.conftest import LIBRARY, grouped_lines_with_junk

ROOT = Path(__file__).resolve().parent.parent
ANCHOR = ROOT / "benchmarks" / "anchor-pack"
RULECITE = ROOT / ".venv" / "bin" / "rulecite"
CODES = ["G0556", "G0557", "G0558", "99490", "99439", "99491", "99484", "G0511"]


def anchor_lines(n, seed=5):
    """Subjects with one to four months (history), junk, a record outside the pack's
    coverage and subjects that come back far later (notes), as JSON Lines bytes."""
    rng = random.Random(seed)
    out = []
    p = 0
    while len(out) < n:
        p += 1
        for m in range(rng.randint(1, 4)):
            claims = [{"line": i + 1, "code": rng.choice(CODES), "npi": "1467503219",
                       "date": f"2026-{m + 1:02d}-{rng.randint(1, 28):02d}", "units": rng.choice([1, 2])}
                      for i in range(rng.randint(1, 3))]
            rec = {"patient_id": f"P{p:05d}", "month": f"2026-{m + 1:02d}", "claims": claims,
                   "patient": {"qmb": rng.random() < 0.5},
                   "consents": [{"program": rng.choice(["APCM", "CCM", "BHI"]), "date": f"2026-{m + 1:02d}-01"}],
                   "time": [{"program": "CCM", "role": "clinical_staff", "minutes": rng.choice([10, 20, 45])}]}
            out.append(json.dumps(rec, separators=(",", ":")))
    for i in range(17, n, 997):
        out[i] = "not json"
    out[40] = out[40].replace('"month":"2026', '"month":"2031')
    for at in (n // 3, n - 5):  # P00003 and P00010 again, chunks later
        out.insert(at, out[9].replace('"month":"2026-0', '"month":"2026-1'))
    return [(x + "\n").encode() for x in out]


class Done:
    def __init__(self, v):
        self.v = v

    def result(self):
        return self.v


def finished_run(pack_dir, lines, limits=Limits()):
    """The finished path in this process: the workers' function, the caller's merger."""
    pack = load_pack(pack_dir)

    def submit(start, chunk):
        return Done(par.evaluate_chunk(str(pack_dir), pack.lock, None, start, chunk, limits, True))

    ev = par.Evaluator(pack.compiled(None), limits)
    return list(par._ordered(submit, ev, par._chunks(iter(lines), par.ranges.IdReader(pack.model.shape.id)), 4,
                             True))


def texts_and_tally(items):
    texts, tally = [], Tally()
    for item in items:
        if item.kind == "chunk":
            texts += item.texts
            tally.add_chunk(item)
        else:
            texts.append(item.to_json())
            tally.add(item)
    return texts, tally


def tally_of(items):
    t = Tally()
    for item in items:
        t.add(item)
    return t


def same_tally(a, b):
    keys = ("records", "results", "rejections", "allowed", "denied", "deny_findings", "warn_findings")
    assert [getattr(a, k) for k in keys] == [getattr(b, k) for k in keys]
    assert a.by_rule == b.by_rule and a.severity == b.severity
    assert [r.to_json() for r in a.rejected] == [r.to_json() for r in b.rejected]


def test_finished_chunks_give_the_single_run_bytes_notes_and_counts(monkeypatch):
    monkeypatch.setattr(par, "CHUNK_LINES", 7)
    monkeypatch.setattr(par, "MAX_CHUNK_LINES", 9)
    lines = anchor_lines(400)
    one = list(evaluate(load_pack(ANCHOR), lines))
    got = finished_run(ANCHOR, lines)
    assert any(x.kind == "chunk" for x in got)  # the fast road was taken
    noted = [x for x in got if x.kind == "chunk" and any("also appears earlier" in t for t in x.texts)]
    assert noted  # a note added by the caller to a finished chunk's text
    texts, tally = texts_and_tally(got)
    assert texts == [r.to_json() for r in one]
    same_tally(tally, tally_of(one))


def test_finished_chunks_with_capped_groups_and_junk(monkeypatch):
    """Groups cut at --max-group (their results carry a note already: the caller's note goes
    first), junk inside groups, cuts that need repair: as one run."""
    monkeypatch.setattr(par, "CHUNK_LINES", 5)
    monkeypatch.setattr(par, "MAX_CHUNK_LINES", 11)
    lim = Limits(max_group=7)
    pack = load_pack(LIBRARY)
    both = 0
    for seed in range(4):
        lines = grouped_lines_with_junk(seed, ("M1", "M2", "M3", "M4"))
        one = list(evaluate(pack, lines, limits=lim))
        texts, tally = texts_and_tally(finished_run(LIBRARY, lines, lim))
        assert texts == [r.to_json() for r in one], seed
        same_tally(tally, tally_of(one))
        both += sum("also appears earlier" in t and "more records in a row" in t for t in texts)
    assert both  # results with a cut note and the caller's note


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    f = tmp_path_factory.mktemp("finished") / "facts.jsonl"
    f.write_bytes(b"".join(anchor_lines(5000)))  # more than twice parallel.CHUNK_LINES
    return f


def run_eval(facts, tmp_path, name, *extra):
    rejects = tmp_path / f"{name}.rejects.jsonl"
    p = subprocess.run([str(RULECITE), "eval", str(ANCHOR), str(facts), "--rejects", str(rejects), *extra],
                       capture_output=True, timeout=300)
    return p.returncode, p.stdout, p.stderr, rejects.read_bytes()


@pytest.mark.parametrize("extra", [("-o", "jsonl"), ("-o", "json", "--fail-on", "deny,reject"),
                                   ("-q", "--fail-on", "warn"), ("-q",)])
def test_eval_jobs_2_writes_what_one_process_writes(facts, tmp_path, extra):
    one = run_eval(facts, tmp_path, "one", *extra)
    two = run_eval(facts, tmp_path, "two", *extra, "--jobs", "2")
    assert one[0] == two[0]  # the exit code (--fail-on)
    assert one[1] == two[1]  # stdout: the results
    assert one[2].replace(b"one.rejects", b"two.rejects") == two[2]  # the summary on stderr
    assert one[3] == two[3]  # the rejects file
    assert b"also appears earlier" in one[1] and one[3].count(b"\n") >= 5


class Text:
    """An item that is only its JSON text (as a rejection is, to ``finish_chunk``)."""

    kind = "rejection"

    def __init__(self, text):
        self.text = text

    def to_json(self):
        return self.text


def test_a_finished_chunk_is_utf8_bytes_or_else_its_texts():
    data, size, rejections, groups, notes, counts = chunks.finish_chunk([Text('"a"'), Text('"é"')])
    assert (data, size, groups, notes) == (b'"a"\n"\xc3\xa9"\n', 2, [], {})
    chunk = chunks.from_finished(10, (data, size, rejections, groups, notes, counts))
    assert len(chunk) == 2 and chunk.texts == ['"a"', '"é"'] and chunk.rejections[1].text == '"é"'
    got = chunks.finish_chunk([Text('"a"'), Text('"\ud800"')])  # a lone surrogate is no UTF-8: the texts travel
    assert got[0] is None and got[1] == ['"a"', '"\ud800"']
    chunk = chunks.from_finished(10, got)
    assert chunk.data is None and len(chunk) == 2 and chunk.texts == ['"a"', '"\ud800"']


def test_spooled_chunks_are_written_from_their_files_and_removed(facts, tmp_path, monkeypatch):
    """``spool``: the workers write each chunk's bytes to a file; the caller copies them to
    its output (os.sendfile into a file here) and the file goes when the next item is
    asked for; the directory goes when the run ends. The bytes are one process's."""
    import io
    import os
    import tempfile

    from rulecite.cli._output import GuardedOutput

    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    monkeypatch.setattr(par, "CHUNK_LINES", 300)
    with open(facts, "rb") as f:
        expected = b"".join((x.to_json() + "\n").encode() for x in evaluate(load_pack(ANCHOR), list(f)))
    target = tmp_path / "out.jsonl"
    stream = io.TextIOWrapper(open(target, "wb"), encoding="utf-8")
    out = GuardedOutput(stream, "standard output")
    assert out.utf8()
    spooled, before = [], None
    for item in par.evaluate_parallel(ANCHOR, None, jobs=2, finished=True, path=facts, spool=True):
        if before is not None:
            assert not os.path.exists(before)  # released when this item was asked for
            before = None
        assert item.kind == "chunk"
        if item.file is not None:
            assert os.path.dirname(item.file) != str(root) and os.path.commonpath([item.file, root]) == str(root)
            assert os.stat(item.file).st_mode & 0o077 == 0  # this user's only
            spooled.append(item.nbytes)
            before = item.file
        item.write_to(out)
    out.flush()
    stream.close()
    assert target.read_bytes() == expected
    assert len(spooled) >= 10 and sum(spooled) < len(expected)  # the chunk with a note was rewritten here
    assert list(root.iterdir()) == []  # the run's directory is gone


def test_a_chunk_that_cannot_be_spooled_is_sent(tmp_path):
    pack = load_pack(ANCHOR)
    lines = anchor_lines(60)
    sent = par.evaluate_chunk(str(ANCHOR), pack.lock, None, 1, lines, Limits(), True, True, None)
    missing = par.evaluate_chunk(str(ANCHOR), pack.lock, None, 1, lines, Limits(), True, True,
                                 str(tmp_path / "gone"))
    assert type(sent[0]) is bytes and missing == sent
    spooled = par.evaluate_chunk(str(ANCHOR), pack.lock, None, 1, lines, Limits(), True, True, str(tmp_path))
    assert spooled[0] == (str(tmp_path / "1"), len(sent[0])) and spooled[1:] == sent[1:]
    chunk = chunks.from_finished(1, spooled)
    assert chunk.data == sent[0] and chunk.file == str(tmp_path / "1")
    chunk.release()
    assert chunk.file is None and not (tmp_path / "1").exists() and chunk.data == sent[0]


def test_eval_jobs_leaves_no_spool_behind_even_when_stopped(facts, tmp_path):
    import os

    root = tmp_path / "tmp"
    root.mkdir()
    env = {**os.environ, "TMPDIR": str(root)}
    whole = subprocess.run([str(RULECITE), "eval", str(ANCHOR), str(facts), "-q", "--jobs", "2"], env=env,
                           capture_output=True, timeout=300)
    assert whole.returncode == 0 and whole.stdout.count(b"\n") == facts.read_bytes().count(b"\n")
    p = subprocess.Popen([str(RULECITE), "eval", str(ANCHOR), str(facts), "-q", "--jobs", "2"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline().startswith(b"{")
    p.stdout.close()  # as `| head -1` does
    err = p.stderr.read()
    assert p.wait(timeout=300) != 0 and b"standard output was closed" in err
    assert list(root.iterdir()) == []


def test_a_finished_chunk_knows_where_its_lines_start_in_the_file(facts, monkeypatch):
    monkeypatch.setattr(par, "CHUNK_LINES", 300)
    data = facts.read_bytes()
    offsets = []
    for item in par.evaluate_parallel(ANCHOR, None, jobs=2, finished=True, path=facts, spool=True):
        assert data[:item.offset].count(b"\n") == item.start - 1 and (item.offset == 0 or data[item.offset - 1] == 10)
        offsets.append(item.offset)
    assert len(offsets) >= 10 and offsets == sorted(offsets) and offsets[0] == 0


def test_the_progress_line_of_a_parallel_run_shows_the_share_of_the_file(facts, monkeypatch):
    # the writing process reads no record: the share is where the chunk being written starts
    import io

    from rulecite.cli import eval as cli_eval
    from rulecite.cli._output import Progress

    class Source:
        kind, size, bytes_read = "jsonl", facts.stat().st_size, 0

    err = io.StringIO()
    monkeypatch.setattr("rulecite.cli._output.stderr_text", lambda: err)
    monkeypatch.setattr("rulecite.cli._output._isatty", lambda stream: True)
    monkeypatch.setattr(Progress, "DELAY", 0.0)
    monkeypatch.setattr(Progress, "EVERY", 0.0)
    monkeypatch.setattr(par, "CHUNK_LINES", 1000)
    progress = Progress(Source())
    out = io.StringIO()
    writer = cli_eval.JsonlWriter(out, None)
    shares = []
    for chunk in par.evaluate_parallel(ANCHOR, None, jobs=2, finished=True, path=facts):
        cli_eval._write_chunk(chunk, Tally(), True, writer, None, progress)
        shares.append(float(err.getvalue().rsplit("\x1b[2K", 1)[1].split("%")[0]))
    assert shares[0] == 0.0 and shares == sorted(shares) and 50.0 < shares[-1] < 100.0
    assert out.getvalue().count("\n") == facts.read_bytes().count(b"\n")


def test_a_chunk_whose_file_fills_the_disk_is_sent_and_its_file_removed(tmp_path, monkeypatch):
    import errno
    import os

    from rulecite.interpreter.engine import chunks as ch

    real = os.write
    calls = [0]

    def full(fd, data):  # the first write goes in, the second finds the disk full
        calls[0] += 1
        if calls[0] > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data[:10])

    monkeypatch.setattr(ch.os, "write", full)
    assert not ch.spooled(str(tmp_path / "7"), b"x" * 100)
    assert calls[0] == 2 and list(tmp_path.iterdir()) == []
