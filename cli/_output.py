"""Where the CLI writes, and how: stdout and stderr (looked up at call time), a guarded
stream that turns a closed pipe or a full disk into ``RunStopped`` (and takes UTF-8 bytes
under a text stream where that writes what the text would), the progress line, JSON and
citation text, counts in words."""

from __future__ import annotations

import codecs
import io
import json
import os
import sys
import time

from rulecite.cli._errors import RunStopped, why


class GuardedOutput:
    """A text stream whose write and flush turn an OS error into ``RunStopped``.

    ``utf8()`` says whether the stream also takes UTF-8 bytes (``write_utf8``, ``encode``):
    a text stream over a byte buffer, encoding to UTF-8 without translating newlines
    and not flushing at each line (a terminal's stream does). Writing bytes there, to the
    buffer under it, writes what writing their text would, at less cost: results are
    made as UTF-8 bytes. Text written before is flushed to the buffer first."""

    def __init__(self, stream, name: str):
        self._stream = stream
        self._name = name
        self._raw = None  # the byte buffer under the stream, once utf8() said yes
        self._text = True  # text may wait in the stream's own buffer: flush it before bytes

    def write(self, text):
        self._text = True
        try:
            return self._stream.write(text)
        except OSError as e:
            raise self._stopped(e) from None

    def utf8(self) -> bool:
        """Whether ``write_utf8`` may write bytes under the text stream (see the class)."""
        if self._raw is None:
            self._raw = _utf8_buffer(self._stream) or False
        return self._raw is not False

    def encode(self, text: str) -> bytes:
        """``text`` as the stream would encode it (with its error handler); after ``utf8()``."""
        return text.encode("utf-8", self._stream.errors)

    def write_utf8(self, data: bytes):
        """Write UTF-8 bytes under the text stream (only after ``utf8()`` said yes)."""
        try:
            if self._text:
                self._stream.flush()
                self._text = False
            return self._raw.write(data)
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


def _utf8_buffer(stream):
    """The byte buffer under ``stream`` if writing UTF-8 there writes what writing the
    text would (see ``GuardedOutput``), else None."""
    if not isinstance(stream, io.TextIOWrapper) or os.linesep != "\n" or stream.line_buffering:
        return None
    try:
        if codecs.lookup(stream.encoding).name != "utf-8":
            return None
    except LookupError:
        return None
    buffer = getattr(stream, "buffer", None)
    return buffer if isinstance(buffer, io.BufferedIOBase) else None  # writes all it is given, or raises


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


def write_json(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


class Progress:
    """A one-line progress report on stderr: only on a terminal, and only once a run is long."""

    DELAY = 2.0
    EVERY = 0.25

    def __init__(self, source, label: str = "records"):  # source: a _facts.FactsSource, or None
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
