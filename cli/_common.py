"""What the commands share: loading packs, reading facts, shared options, output helpers.

Commands raise ``BadInput`` for anything the user can fix (exit 2); a pack with
errors raises the library's ``PackError``. Only the group in ``main.py`` turns
those into text and exit codes.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import sys
import time
from pathlib import Path

import attrs
import click
from rulecite.policy_lang import bundled_names, did_you_mean, resolve_pack_path
from rulecite.policy_lang.load import shadowed_folder

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INCOMPLETE, EXIT_INTERRUPTED = 4, 130  # the environment stopped the run: its output is incomplete


class RunStopped(Exception):
    """Something around the run stopped it: output that cannot be written (a closed pipe, a
    full disk), a worker process that died, Ctrl-C. Not a bug: one line, no traceback."""

    def __init__(self, message: str, code: int = EXIT_INCOMPLETE):
        super().__init__(message)
        self.message = message
        self.code = code


class GuardedOutput:
    """A text stream whose write and flush turn an OS error into ``RunStopped``."""

    def __init__(self, stream, name: str):
        self._stream = stream
        self._name = name

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as e:
            raise self._stopped(e) from None

    def flush(self):
        try:
            self._stream.flush()
        except OSError as e:
            raise self._stopped(e) from None

    def _stopped(self, e: OSError) -> RunStopped:
        if self._stream is sys.stdout or getattr(self._stream, "name", None) == "<stdout>":
            fix_stdout_after_broken_pipe()  # the interpreter's last flush must not fail again
        if isinstance(e, BrokenPipeError):
            return RunStopped(f"{self._name} was closed before all results were written: the output is incomplete")
        return RunStopped(f"cannot write to {self._name}: {why(e)}: the output is incomplete")

    def __getattr__(self, name):
        return getattr(self._stream, name)


class BadInput(Exception):
    """Something the user gave cannot be used: a missing file, malformed JSON, a bad record id."""

    def __init__(self, message: str, hints=()):
        super().__init__(message)
        self.message = message
        self.hints = tuple(hints)


def why(e: Exception) -> str:
    """The readable part of an OS error (or of a ValueError such as an embedded null byte)."""
    return getattr(e, "strerror", None) or str(e) or e.__class__.__name__


# ---------------------------------------------------------------- packs


_NOTED: set = set()  # names already given the note below in this process


def pack_root(path_or_name: str) -> Path:
    """The folder of a pack given as a path or a bundled name, or ``BadInput``."""
    try:
        root = resolve_pack_path(path_or_name)
    except (OSError, ValueError) as e:  # a name too long for the file system, say
        raise BadInput(f"no pack at `{short(path_or_name)}`: {why(e)}") from None
    shadowed = shadowed_folder(path_or_name)
    if shadowed is not None and path_or_name not in _NOTED:
        _NOTED.add(path_or_name)
        click.echo(f"note: `{path_or_name}` is the bundled pack; the folder ./{path_or_name} of the same name is "
                   f"not used (write ./{path_or_name} for the folder, bundled:{path_or_name} to say the bundled "
                   "pack and silence this note)", err=True)
    if root is None:
        raise BadInput(f"no pack at `{short(path_or_name)}`: give a folder holding pack.toml, or a bundled pack "
                       f"name ({', '.join(bundled_names()) or 'none installed'})",
                       did_you_mean(str(path_or_name), bundled_names()))
    return root


def short(text, limit: int = 120) -> str:
    """User-given text, cut to a readable length for a message."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def load_rulepack(path_or_name: str):
    """Load, check and compile a pack; a pack with errors raises ``PackError`` (exit 2)."""
    from rulecite.interpreter import load_pack

    pack_root(path_or_name)
    return load_pack(path_or_name)


def relpath(name: str) -> str:
    """A file name relative to the working directory when it lies inside it."""
    try:
        p = Path(name)
        return p.relative_to(Path.cwd()).as_posix() if p.is_absolute() and p.is_relative_to(Path.cwd()) else name
    except (ValueError, OSError):
        return name


def relative_spans(diagnostics, texts: dict):
    """Diagnostics and texts with file names relative to the working directory, when inside it."""
    diags = [attrs.evolve(d, span=attrs.evolve(d.span, file=relpath(d.span.file))) for d in diagnostics]
    return diags, {relpath(k): v for k, v in (texts or {}).items()}


# ---------------------------------------------------------------- parameters


class DateParam(click.ParamType):
    """``YYYY-MM-DD``; with ``months=True`` also ``YYYY-MM`` (its first day)."""

    name = "date"

    def __init__(self, months: bool = False):
        self.months = months

    def convert(self, value, param, ctx):
        if isinstance(value, _dt.date):
            return value
        text = str(value)
        try:
            if self.months and len(text) == 7:
                return _dt.date.fromisoformat(text + "-01")
            if len(text) != 10:
                raise ValueError
            return _dt.date.fromisoformat(text)
        except ValueError:
            want = "YYYY-MM-DD or YYYY-MM" if self.months else "YYYY-MM-DD"
            self.fail(f"{text!r} is not a date ({want})", param, ctx)


def as_of_option(f):
    return click.option(
        "--as-of", "as_of", type=DateParam(), default=None, metavar="DATE",
        help="Publication clock: use only sources published on or before DATE. Rules are still picked "
             "by each line's date of service.")(f)


def pack_argument(f):
    return click.argument("pack", metavar="PACK")(f)


def facts_argument(f):
    return click.argument("facts", metavar="FACTS")(f)


def record_options(f):
    """``--record ID`` and ``--month PERIOD``: one record of FACTS, the earlier ones its history."""
    f = click.option("--month", metavar="PERIOD", default=None,
                     help="Which period of that id (default: the latest in FACTS); earlier ones are its "
                          "history.")(f)
    return click.option("--record", "record_id", required=True, metavar="ID",
                        help="The record's id (the pack's [record] id).")(f)


# ---------------------------------------------------------------- reading facts


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
        from rulecite.interpreter.engine.reading import read_lines

        head = [_too_long(h, max_record_bytes, stream) for h in head]
        return FactsSource(name, "jsonl", size, 0, _Chained(head, _Bounded(stream, max_record_bytes)))
    return FactsSource(name, "jsonl", size, 0, _Chained(head, stream))


def _too_long(raw: bytes, limit: int, stream):
    """A line read with a bounded read: itself, or an OversizedLine (the rest of it skipped)."""
    from rulecite.interpreter.engine.reading import SKIP_PIECE, OversizedLine

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
        from rulecite.interpreter.engine.reading import read_lines

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
        value = json.loads(text, parse_constant=_no_constant)
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


def _no_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _scan(path: str, shape, record_id: str, needle: bytes | None):
    """Records of FACTS whose id is ``record_id``, the ids seen (for hints) and the count.

    With ``needle``, a line that does not contain it is not parsed at all (and its id
    not collected): fast on a large file, exact once confirmed by parsing.
    """
    source = open_facts(path)
    mine, ids, n = [], set(), 0
    try:
        for item in source.items():
            n += 1
            if isinstance(item, (bytes, bytearray)):
                if needle is not None and needle not in item:
                    continue
                try:
                    item = json.loads(item.decode("utf-8-sig"))
                except (UnicodeDecodeError, ValueError, RecursionError):
                    continue
            if not isinstance(item, dict):
                continue
            rid = str(item.get(shape.id))
            if rid == record_id:
                mine.append(item)
            elif len(ids) < 100_000:
                ids.add(rid)
    finally:
        source.close()
    return mine, ids, n


def find_record(path: str, shape, record_id: str, month: str | None):
    """The record of FACTS with ``[record] id`` == ``record_id`` (and period ``month``,
    else the latest), and its history: the earlier periods of that id. ``BadInput`` if
    none. Only that subject's records are kept in memory."""
    needle = record_id.encode("utf-8") if path != "-" and record_id else None
    mine, ids, n = _scan(path, shape, record_id, needle)
    if not mine and needle is not None:  # an id written with JSON escapes, or not there at all
        mine, ids, n = _scan(path, shape, record_id, None)
    if not mine:
        raise BadInput(f"no record with {shape.id} `{short(record_id)}` in the facts ({plural(n, 'line')} read)",
                       did_you_mean(record_id, ids))
    periods = sorted({str(r.get(shape.period)) for r in mine})
    if month is None:
        month = periods[-1]
    chosen = [r for r in mine if str(r.get(shape.period)) == month]
    if not chosen:
        raise BadInput(f"{shape.id} `{short(record_id)}` has no record for {shape.period} `{short(month)}`",
                       (f"its {shape.period}s: {', '.join(periods)}",))
    history = sorted((r for r in mine if str(r.get(shape.period)) < month), key=lambda r: str(r.get(shape.period)))
    return chosen[-1], history


def line_id(text: str | None):
    """A ``--line`` value: a whole number when it looks like one."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return text


# ---------------------------------------------------------------- output


def stdout_text():
    """Where results go (sys.stdout, looked up at call time so tests can capture it)."""
    return sys.stdout


def stderr_text():
    """Where summaries, progress and errors go."""
    return sys.stderr


def terminal_width(stream, default: int = 100) -> int:
    try:
        if stream.isatty():
            return max(60, min(160, os.get_terminal_size(stream.fileno()).columns))
    except (AttributeError, ValueError, OSError):
        pass
    return default


def citation_text(c: dict) -> str:
    """``90 FR 49266, section "...", page 49411`` or ``..., page unverified``."""
    text = c.get("citation") or c.get("title") or c.get("source") or "?"
    if c.get("section"):
        text += f', section "{c["section"]}"'
    page = c.get("page")
    text += ", page unverified" if page in (None, "unverified") else f", page {page}"
    return text


def write_json(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


class Progress:
    """A one-line progress report on stderr: only on a terminal, and only once a run is long."""

    DELAY = 2.0
    EVERY = 0.25

    def __init__(self, source: FactsSource | None, label: str = "records"):
        err = stderr_text()
        self.stream = err
        self.enabled = _isatty(err)
        self.source = source
        self.label = label
        self.start = time.monotonic()
        self.last = 0.0
        self.shown = False
        self.count = 0

    def tick(self, n: int = 1):
        self.count += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.start < self.DELAY or now - self.last < self.EVERY:
            return
        self.last = now
        rate = self.count / max(now - self.start, 1e-9)
        text = f"{self.count:,} {self.label} ({rate:,.0f}/s)"
        if self.source is not None and self.source.size and self.source.kind == "jsonl":
            text = f"{min(100.0, 100.0 * self.source.bytes_read / self.source.size):5.1f}%  " + text
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()
        self.shown = True

    def done(self):
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def fix_stdout_after_broken_pipe():
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass
