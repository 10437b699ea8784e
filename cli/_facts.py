"""Reading FACTS: a JSON Lines file or stream (bounded reads), or a JSON document; and
finding one record in it for ``explain`` and ``evidence``, as ``eval`` reads it.

``find_record`` reads through the engine (``engine.subjects.find_record``): the same
decoder, the same schema check and the same grouping by subject as ``eval``, so a
record ``eval`` rejects is rejected here with the same reason, and history is the
record's own group, not every record of that id in the file.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import attrs
from rulecite.interpreter.engine.decode import DEFAULT_LIMITS, loads_document
from rulecite.interpreter.engine.reading import SKIP_PIECE, OversizedLine, read_lines
from rulecite.policy_lang import did_you_mean

from rulecite.cli._errors import BadInput, short, why
from rulecite.cli._output import plural


@attrs.define
class FactsSource:
    """The records of a FACTS argument: JSON Lines streamed, or a JSON document (array or object).

    ``items()`` yields raw JSONL lines (bytes, so the engine numbers lines and rejects
    bad ones itself) or, for a JSON document, one dict (or other value) per element.
    """

    name: str
    kind: str  # "jsonl" | "json"
    size: int | None = None
    bytes_read: int = 0
    _stream: object = None
    _values: list | None = None

    def items(self):
        if self._values is not None:
            yield from self._values
            return
        for raw in self._stream:
            self.bytes_read += raw.size if type(raw) is not bytes and hasattr(raw, "size") else len(raw)
            yield raw

    def close(self):
        if self._stream is not None:
            self._stream.close()


def _stdin():
    return stdin_bytes()


def stdin_bytes():
    """Standard input as bytes."""
    return getattr(sys.stdin, "buffer", sys.stdin)


MAX_STDIN_DOCUMENT_BYTES = 100_000_000  # a JSON array given on stdin is read whole: at most this


def open_facts(path: str, max_record_bytes: int | None = None) -> FactsSource:
    """Open FACTS: a ``.json`` file (array of records or one record), a JSON Lines file, or ``-``.

    A file or stream whose first non-blank character is ``[`` is read as one JSON array
    (on stdin, at most ``MAX_STDIN_DOCUMENT_BYTES``); anything else as JSON Lines,
    streamed. With ``max_record_bytes``, no JSON Lines line is read whole past that
    size: a longer one comes as an ``OversizedLine`` (see ``interpreter.reading``).
    """
    if path == "-":
        stream, name, size = _stdin(), "<stdin>", None
    else:
        p = Path(path)
        try:
            if p.is_dir():
                raise BadInput(f"`{short(path)}` is a folder; FACTS is a JSON Lines file, a .json file, or - for "
                               "stdin")
            stream = open(p, "rb")
            size = p.stat().st_size
        except (OSError, ValueError) as e:
            raise BadInput(f"cannot read facts file `{short(path)}`: {why(e)}") from None
        name = path
    try:
        head = []
        first = b""
        while len(head) < 1000:
            raw = stream.readline(-1 if max_record_bytes is None else max_record_bytes + 1)
            if not raw:
                break
            head.append(raw)
            first = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
            if first:
                break
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot read facts file `{path}`: {why(e)}") from None
    if path.endswith(".json") or (path == "-" and first == b"["):
        if path == "-":
            data = b"".join(head) + stream.read(MAX_STDIN_DOCUMENT_BYTES + 1)
            if len(data) > MAX_STDIN_DOCUMENT_BYTES:
                raise BadInput(f"the JSON document on stdin is larger than {MAX_STDIN_DOCUMENT_BYTES:,} bytes, "
                               "and a JSON document is read whole",
                               ("give one JSON object per line (JSON Lines): it is streamed, without a bound",))
            return _json_document(name, data, size, stream, strict=False)
        return _json_document(name, b"".join(head) + stream.read(), size, stream, strict=path != "-")
    if max_record_bytes is not None:
        head = [_too_long(h, max_record_bytes, stream) for h in head]
        return FactsSource(name, "jsonl", size, 0, _Chained(head, _Bounded(stream, max_record_bytes)))
    return FactsSource(name, "jsonl", size, 0, _Chained(head, stream))


def _too_long(raw: bytes, limit: int, stream):
    """A line read with a bounded read: itself, or an OversizedLine (the rest of it skipped)."""
    if len(raw) <= limit:
        return raw
    size = len(raw)
    while not raw.endswith(b"\n"):
        raw = stream.readline(SKIP_PIECE)
        if not raw:
            break
        size += len(raw)
    return OversizedLine(size)


class _Bounded:
    """A binary stream's lines, read with a bounded read (``read_lines``)."""

    def __init__(self, stream, limit: int):
        self.stream = stream
        self.limit = limit

    def __iter__(self):
        return read_lines(self.stream, self.limit)

    def close(self):
        self.stream.close()


class _Chained:
    """Lines already read, then the rest of the stream."""

    def __init__(self, head, stream):
        self.head = head
        self.stream = stream

    def __iter__(self):
        yield from self.head
        self.head = []
        yield from self.stream

    def close(self):
        stream = getattr(self.stream, "stream", self.stream)
        if stream is not _stdin():
            self.stream.close()


def _json_document(name: str, data: bytes, size, stream, strict: bool = True) -> FactsSource:
    """One JSON document; when it does not parse, JSON Lines after all (unless the file is
    named .json and is not JSON Lines either: then ``BadInput``)."""
    if stream is not _stdin():
        stream.close()
    try:
        text = data.decode("utf-8-sig")
        value = loads_document(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        if not strict or str(e).startswith("Extra data"):  # JSON Lines after all: judged line by line
            return FactsSource(name, "jsonl", size, 0, _Chained([], io.BytesIO(data)))
        if isinstance(e, UnicodeDecodeError):
            raise BadInput(f"facts file `{name}` is not UTF-8 text (byte {e.start})") from None
        if isinstance(e, RecursionError):
            raise BadInput(f"facts file `{name}` is nested too deeply to read") from None
        raise BadInput(f"facts file `{name}` is not JSON: {e}",
                       ("give one JSON object per line (JSON Lines), or a JSON array of records",)) from None
    values = value if isinstance(value, list) else [value]
    return FactsSource(name, "json", size, len(data), None, values)


def find_record(path: str, pack, record_id: str, month: str | None, as_of=None):
    """The record of FACTS with ``[record] id`` == ``record_id`` (and period ``month``,
    else the latest), read as ``eval`` reads it (see ``engine.subjects.Found``): its
    history is what ``eval`` gives it, and ``rejection`` is set when ``eval`` rejects it.
    ``BadInput`` when there is none. Only that subject's records are kept in memory."""
    from rulecite.interpreter.api import as_date
    from rulecite.interpreter.engine.evaluator import Evaluator
    from rulecite.interpreter.engine.subjects import Found, find_record as find

    shape = pack.model.shape
    ev = Evaluator(pack.compiled(as_date(as_of)), DEFAULT_LIMITS)
    source = open_facts(path, DEFAULT_LIMITS.max_record_bytes)
    try:
        found = find(ev, source.items(), record_id, month)
    finally:
        source.close()
    if isinstance(found, Found):
        return found
    if not found.periods:
        raise BadInput(f"no record with {shape.id} `{short(record_id)}` in the facts ({plural(found.lines, 'line')} "
                       "read)", did_you_mean(record_id, found.ids))
    raise BadInput(f"{shape.id} `{short(record_id)}` has no record for {shape.period} `{short(month)}`",
                   (f"its {shape.period}s: {', '.join(found.periods)}",))


def rejected(shape, record_id: str, found) -> BadInput:
    """The error for a record ``eval`` rejects (``found.rejection``)."""
    r = found.rejection
    return BadInput(f"{shape.id} `{record_id}` cannot be evaluated: rejected at {r.path}: {r.reason}")


def line_id(text: str | None):
    """A ``--line`` value: a whole number when it looks like one."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return text
