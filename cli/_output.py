"""Where the CLI writes, and how: stdout and stderr (looked up at call time), a guarded
stream that turns a closed pipe or a full disk into ``RunStopped`` (and takes UTF-8 bytes
under a text stream where that writes what the text would), the progress line, JSON and
citation text, counts in words."""

from __future__ import annotations

import codecs
import errno
import io
import json
import os
import sys
import time

from rulecite.cli._errors import RunStopped, why


class GuardedOutput:
    """A text stream whose write and flush turn an OS error into ``RunStopped``.

    ``utf8()`` says whether the stream also takes UTF-8 bytes (``write_utf8``, ``encode``):
    a text stream over bytes, encoding to UTF-8 without translating newlines and not
    flushing at each line (a terminal's stream does). Writing bytes there, under the
    text stream, writes what writing their text would, at less cost: results are made as
    UTF-8 bytes. Text written before is flushed first. A stream straight over a raw file
    (``python -u``, ``PYTHONUNBUFFERED``, common in containers) writes each call at once;
    the bytes then go through this object's own block buffer (``_Blocks``), so that a
    run does not make a system call per result, and ``flush`` writes them out (the CLI
    flushes when a run ends, however it ends). ``write_file`` copies a file's bytes
    there, in the kernel where it can (a parallel run's finished chunks)."""

    def __init__(self, stream, name: str):
        self._stream = stream
        self._name = name
        self._raw = None  # the byte buffer under the stream, once utf8() said yes
        self._text = True  # text may wait in the stream's own buffer: flush it before bytes
        self._send = hasattr(os, "sendfile")  # until the output refuses it

    def write(self, text):
        try:
            if self._raw:
                self._raw.flush()  # own blocks first (a no-op over a buffered stream: the same buffer)
            self._text = True
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

    def write_file(self, fd: int, size: int):
        """Write the first ``size`` bytes of the file open at ``fd`` (read from its start, its
        offset unused) as ``write_utf8`` would write them: straight from the kernel's copy
        of the file (``os.sendfile``) where the stream's file takes that, else read and
        written (after ``utf8()`` said yes)."""
        done = 0
        if self._send:
            try:
                if self._text:
                    self._stream.flush()
                    self._text = False
                self._raw.drain()
                done = _send(fd, self._raw.fileno, size)
            except OSError as e:
                raise self._stopped(e) from None
            self._send = done > 0 or size == 0  # else this output does not take it (O_APPEND, ...)
        while done < size:
            data = _read_at(fd, min(size - done, 1 << 22), done)
            if not data:
                raise RuntimeError("a finished chunk's file is shorter than the chunk")
            self.write_utf8(data)
            done += len(data)

    def flush(self):
        try:
            if self._raw:
                self._raw.flush()
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
    if isinstance(buffer, io.BufferedIOBase):  # writes all it is given, or raises
        return _Blocks(buffer, buffered=True)
    if isinstance(buffer, io.RawIOBase) and stream.write_through:  # unbuffered: see GuardedOutput
        return _Blocks(buffer, buffered=False)
    return None


class _Blocks:
    """The bytes under a text stream: its byte buffer as it is, or, over a raw file, a
    block buffer of this object's own that writes all it holds when it reaches
    ``BLOCK`` bytes or is flushed (a raw file may write part of what it is given: the
    rest is written again). ``flush`` writes out this object's blocks only (the text
    stream flushes its own buffer); ``drain``, the byte buffer's too."""

    BLOCK = 1 << 16

    def __init__(self, buffer, buffered: bool):
        self._buffer = buffer
        self._parts: list = []
        self._size = 0
        self.write = buffer.write if buffered else self._add
        self.flush = (lambda: None) if buffered else self._out

    def fileno(self) -> int:
        return self._buffer.fileno()

    def drain(self):
        """Everything written so far, in the file (before writing to it another way)."""
        self._out()
        self._buffer.flush()

    def _add(self, data: bytes):
        self._parts.append(data)
        self._size += len(data)
        if self._size >= self.BLOCK:
            self._out()
        return len(data)

    def _out(self):
        if not self._parts:
            return
        data = memoryview(b"".join(self._parts))
        self._parts.clear()
        self._size = 0
        while data:
            n = self._buffer.write(data)
            if n is None:  # a non-blocking file that takes nothing now: as a buffered writer would say
                raise BlockingIOError(errno.EAGAIN, "standard output would block")
            data = data[n:]


def _read_at(fd: int, n: int, offset: int) -> bytes:
    """Up to ``n`` bytes of the file at ``fd`` from ``offset`` (``os.pread`` where there is
    one; Windows has none)."""
    if hasattr(os, "pread"):
        return os.pread(fd, n, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, n)


def _send(fd: int, out_fileno, size: int) -> int:
    """How many bytes ``os.sendfile`` copied from the start of ``fd`` to the file of
    ``out_fileno()``, up to ``size``: 0 where that file does not take it."""
    try:
        out = out_fileno()
    except (AttributeError, OSError, ValueError):  # not a file (io.UnsupportedOperation is both)
        return 0
    done = 0
    while done < size:
        try:
            n = os.sendfile(out, fd, done, size - done)
        except OSError as e:
            if done == 0 and e.errno in _NO_SENDFILE:
                return 0
            raise
        if n == 0:
            break
        done += n
    return done


_NO_SENDFILE = frozenset(getattr(errno, name) for name in ("EINVAL", "ENOSYS", "EOPNOTSUPP", "ENOTSOCK", "EBADF",
                                                            "ESPIPE", "ENOTSUP") if hasattr(errno, name))


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
