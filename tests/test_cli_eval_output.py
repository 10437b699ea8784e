"""How ``rulecite eval`` writes results: as UTF-8 bytes under a text stdout where that
writes what the text would (``GuardedOutput.utf8``), as text elsewhere; the same bytes
either way, in order with text written around them, and a closed pipe stops the run."""

from __future__ import annotations

import io
import os

import pytest
from rulecite.cli._errors import RunStopped
from rulecite.cli._output import GuardedOutput
from rulecite.cli.eval_writers import JsonlWriter, JsonWriter
from rulecite.interpreter import evaluate, load_pack
from rulecite.interpreter.engine import result_json

from tests.cli_support import LIBRARY, library_records, run, write_jsonl


def _text_stream(**kw):
    raw = io.BytesIO()
    return raw, io.TextIOWrapper(raw, **{"encoding": "utf-8", **kw})


def test_bytes_and_text_keep_their_order():
    raw, stream = _text_stream()
    out = GuardedOutput(stream, "standard output")
    assert out.utf8()
    out.write("a\n")  # waits in the text stream's buffer: flushed before the bytes
    out.write_utf8("b é\n".encode())
    out.write("c\n")
    out.write_utf8(b"d\n")
    out.flush()
    assert raw.getvalue() == "a\nb é\nc\nd\n".encode()


def test_encode_is_the_streams_own_encoding():
    raw, stream = _text_stream(errors="surrogateescape")
    out = GuardedOutput(stream, "standard output")
    assert out.utf8()
    text = "x\udcff\u2028é"
    stream.write(text)
    stream.flush()
    assert out.encode(text) == raw.getvalue()
    _, strict = _text_stream()
    with pytest.raises(UnicodeEncodeError):
        GuardedOutput(strict, "standard output").encode(text)


@pytest.mark.parametrize("make", [
    lambda: io.StringIO(),
    lambda: _text_stream(line_buffering=True)[1],  # a terminal's stdout: each line shows as it comes
    lambda: _text_stream(encoding="latin-1")[1],
    lambda: _text_stream(encoding="utf-8-sig")[1],  # would write a byte order mark first
])
def test_streams_that_take_text_only(make):
    assert not GuardedOutput(make(), "standard output").utf8()


class _ClosedPipe(io.RawIOBase):
    def writable(self):
        return True

    def write(self, b):
        raise BrokenPipeError


def test_a_closed_pipe_under_the_bytes_stops_the_run():
    stream = io.TextIOWrapper(io.BufferedWriter(_ClosedPipe(), buffer_size=16), encoding="utf-8")
    out = GuardedOutput(stream, "standard output")
    assert out.utf8()
    with pytest.raises(RunStopped, match="standard output was closed before all results were written"):
        for _ in range(10):
            out.write_utf8(b'{"a":"0123456789abcdef"}\n')


@pytest.fixture(params=["orjson", "stdlib"])
def road(request, monkeypatch):
    if request.param == "orjson" and result_json.ORJSON is None:
        pytest.skip("orjson (the fast extra) is not installed")
    if request.param == "stdlib":
        monkeypatch.setattr(result_json, "ORJSON", None)
    return request.param


@pytest.mark.parametrize("writer", [JsonlWriter, JsonWriter])
def test_the_json_writers_write_the_same_bytes_to_bytes_and_to_text(road, writer):
    pack = load_pack(LIBRARY)
    records = library_records() + ["not json", {"member_id": "M\u00e9", "month": "2026-13", "loans": []}]
    items = [x for x in evaluate(pack, [r if isinstance(r, str) else dict(r) for r in records])]
    assert {x.kind for x in items} == {"result", "rejection"}
    texts = [x.to_json() for x in items]
    expected = "\n".join(texts) + "\n" if writer is JsonlWriter else "[\n" + ",\n".join(texts) + "\n]\n"

    raw, stream = _text_stream()
    to_bytes = GuardedOutput(stream, "standard output")
    as_text = GuardedOutput(io.StringIO(), "standard output")
    for out in (to_bytes, as_text):
        w = writer(out, pack.model.shape)
        assert w.utf8 == (out is to_bytes and road == "orjson")
        for x in items:
            w.write(x)
        w.close()
        out.flush()
    assert raw.getvalue() == expected.encode()
    assert as_text.getvalue() == expected


@pytest.mark.parametrize("args", [["-q"], [], ["-q", "--fail-on", "reject"], ["-q", "-o", "json"]])
def test_quiet_runs_write_what_the_others_write(tmp_path, args):
    # -q alone takes a shorter loop (nothing to count, no --rejects, no log): the same bytes
    pack = load_pack(LIBRARY)
    facts = write_jsonl(tmp_path / "facts.jsonl", library_records(), ["not json", "[]"])
    with open(facts, "rb") as f:
        texts = [x.to_json() for x in evaluate(pack, list(f))]
    r = run(["eval", LIBRARY, facts, *args])
    assert r.exit_code == (1 if "--fail-on" in args else 0), r.output
    if "json" in args:
        assert r.stdout == "[\n" + ",\n".join(texts) + "\n]\n"
    else:
        assert r.stdout == "\n".join(texts) + "\n"
    assert ("records read" in r.stderr) == ("-q" not in args)


class _Trickle(io.RawIOBase):
    """A raw file that writes at most 4 KiB a call (as a pipe may), and counts its calls."""

    def __init__(self):
        self.data, self.calls = bytearray(), 0

    def writable(self):
        return True

    def write(self, b):
        self.calls += 1
        n = min(4096, len(b))
        self.data += bytes(b[:n])
        return n


def test_a_text_stream_straight_over_a_raw_file_takes_bytes_in_blocks():
    # python -u / PYTHONUNBUFFERED: stdout writes each call at once; the bytes go in blocks,
    # all of them even where the file writes part of what it is given, in order with text
    raw = _Trickle()
    stream = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    out = GuardedOutput(stream, "standard output")
    assert out.utf8()
    out.write("head é\n")
    lines = [f'{{"n":{i}}}\n'.encode() for i in range(20_000)]
    calls = raw.calls
    for line in lines[:10]:
        out.write_utf8(line)
    assert raw.calls == calls  # held in the block
    for line in lines[10:]:
        out.write_utf8(line)
    out.write("tail\n")  # the block goes first
    out.write_utf8(b"last\n")
    out.flush()
    assert bytes(raw.data) == "head é\n".encode() + b"".join(lines) + b"tail\nlast\n"
    assert len(b"".join(lines)) // 4096 < raw.calls < len(lines) // 20  # blocks, each in several calls


def _file_with(tmp_path, data: bytes) -> int:
    path = tmp_path / "chunk"
    path.write_bytes(data)
    return os.open(path, os.O_RDONLY)


@pytest.mark.parametrize("kind", ["file", "append", "pipe", "bytes", "no-sendfile-no-pread"])
def test_write_file_copies_a_file_in_order_with_the_rest(tmp_path, kind, monkeypatch):
    # os.sendfile where the output takes it; read and written where it does not (O_APPEND, a
    # buffer that is not a file): the same bytes either way, in order with what was written
    data = "".join(f'{{"line":{i},"é":true}}\n' for i in range(50_000)).encode()
    fd = _file_with(tmp_path, data + b"not this")
    target = tmp_path / "out"
    if kind == "no-sendfile-no-pread":  # as on Windows
        monkeypatch.delattr(os, "sendfile", raising=False)
        monkeypatch.delattr(os, "pread", raising=False)
    if kind == "bytes":
        buffer = io.BytesIO()
    elif kind == "pipe":
        r, w = os.pipe()
        buffer = open(w, "wb")
    else:
        buffer = open(target, "ab" if kind == "append" else "wb")
    stream = io.TextIOWrapper(buffer, encoding="utf-8")
    out = GuardedOutput(stream, "standard output")
    assert out.utf8()
    got = bytearray()
    reader = None
    if kind == "pipe":  # drained as it is written
        import threading

        def drain():
            while chunk := os.read(r, 1 << 16):
                got.extend(chunk)
        reader = threading.Thread(target=drain)
        reader.start()
    out.write("text first\n")
    out.write_utf8(b"bytes\n")
    out.write_file(fd, len(data))
    out.write_file(fd, len(data))
    out.write_utf8(b"after\n")
    out.flush()
    expected = b"text first\nbytes\n" + data + data + b"after\n"
    if kind == "bytes":
        assert buffer.getvalue() == expected
    elif kind == "pipe":
        stream.close()
        reader.join()
        assert bytes(got) == expected
    else:
        stream.close()
        assert target.read_bytes() == expected
    os.close(fd)


def test_results_are_the_same_with_an_unbuffered_stdout(tmp_path):
    # the CLI under python -u: the same bytes, and those written before a run stops are out
    import subprocess
    import sys

    facts = write_jsonl(tmp_path / "facts.jsonl", library_records() * 50, ["not json"])
    outs = []
    for env in ({}, {"PYTHONUNBUFFERED": "1"}):
        with open(tmp_path / "out", "wb") as f:
            p = subprocess.run([sys.executable, "-m", "rulecite.cli.main", "eval", LIBRARY, str(facts), "-q"],
                               stdout=f, stderr=subprocess.PIPE, env={**os.environ, **env}, check=False)
        assert p.returncode == 0, p.stderr
        outs.append((tmp_path / "out").read_bytes())
    assert outs[0] == outs[1]
    assert outs[0].count(b"\n") == len(library_records()) * 50 + 1
