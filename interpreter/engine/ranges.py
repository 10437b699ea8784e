"""Cutting JSON Lines into chunks where the subject changes: a stream of lines into lists
(``line_chunks``), a file into byte ranges (``file_chunks``).

For ``parallel``: the subject id of a line is read from its text without decoding it
(``IdReader``), for the few lines a chunk needs. When the input is a file, the caller scans the file once, in blocks of
``BLOCK`` bytes, counting line ends (``bytes.count``) and reading the text of only the
few lines a chunk needs to find where the subject id changes; each worker then reads its
own range of the file (``FileLines``) as ``reading.read_lines`` reads it. So the caller
does no work per record and sends no record to a worker.

Lines are those ``read_lines`` gives: a line ends after a newline, the last one may have
none, an empty line is a line. A line longer than the record-size limit is never held
whole here (its id is unknown: no cut is made after it on the strength of its id).
"""

from __future__ import annotations

import itertools
import re

from rulecite.interpreter.engine.reading import read_lines

BLOCK = 1 << 20  # bytes read at once while scanning
STEP = 1 << 16  # bytes whose line ends are counted at once

_EOF = object()


class IdReader:
    """Reads a line's subject id from its text, when the id key occurs exactly once."""

    def __init__(self, key: str):
        k = re.escape(key)
        self.res = {str: re.compile(rf'"{k}"\s*:\s*("(?:[^"\\]|\\.)*"|[^\s,}}\]]+)'),
                    bytes: re.compile(rf'"{k}"\s*:\s*("(?:[^"\\]|\\.)*"|[^\s,}}\]]+)'.encode())}

    def __call__(self, line):
        rx = self.res.get(type(line))
        if rx is None:
            return None
        found = rx.findall(line)
        return found[0] if len(found) == 1 else None


def line_chunks(lines, id_of, min_lines: int, max_lines: int):
    """``(first line number, [lines])`` for each chunk of ``lines``: at least ``min_lines``
    lines (but the last), then cut before the first line whose subject id (``id_of`` of
    its text; None: unknown) differs from that of the line before it, or at ``max_lines``
    lines whatever the ids say."""
    chunk: list = []
    start = 1
    last_id = None
    n = 0
    for line in lines:
        n += 1
        if len(chunk) >= min_lines:
            this_id = id_of(line)
            if len(chunk) >= max_lines or (this_id is not None and last_id is not None and this_id != last_id):
                yield start, chunk
                chunk, start = [], n
            last_id = this_id
        elif len(chunk) == min_lines - 1:
            last_id = id_of(line)
        chunk.append(line)
    if chunk:
        yield start, chunk


class FileLines:
    """``count`` lines of the file at ``path`` from byte ``offset`` on, read as
    ``read_lines(file, limit)`` reads them (so a long line comes as an ``OversizedLine``).
    Iterable more than once; small to pickle (a worker reads the lines itself)."""

    __slots__ = ("path", "offset", "count", "limit")

    def __init__(self, path: str, offset: int, count: int, limit: int):
        self.path, self.offset, self.count, self.limit = path, offset, count, limit

    def __iter__(self):
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            yield from itertools.islice(read_lines(fh, self.limit), self.count)

    def __len__(self) -> int:
        return self.count

    def __reduce__(self):
        return (FileLines, (self.path, self.offset, self.count, self.limit))

    def __repr__(self) -> str:
        return f"FileLines({self.path!r}, {self.offset}, {self.count}, {self.limit})"


class _Scanner:
    """A binary file read forward in blocks: skip lines, or read one line's text."""

    def __init__(self, fh, limit: int):
        self.fh, self.limit = fh, limit
        self.buf = b""
        self.base = 0  # the file offset of buf[0]
        self.i = 0  # the index in buf where the current line starts

    @property
    def pos(self) -> int:
        """The file offset where the current line starts."""
        return self.base + self.i

    def skip(self, n: int) -> int:
        """Move past up to ``n`` lines; how many (fewer only at the end of the file). Counts
        line ends ``STEP`` bytes at a time, so it reads little past the ``n``-th."""
        done, buf, p = 0, self.buf, self.i
        partial = False  # bytes of a line read, its newline not yet
        while n > 0:
            start = p
            while p < len(buf):
                j = min(len(buf), p + STEP)
                k = buf.count(b"\n", p, j)
                if done + k >= n:
                    for _ in range(n - done):
                        p = buf.index(b"\n", p) + 1
                    self.i = p
                    return n
                done, p = done + k, j
            if p > start:
                partial = buf[-1] != 10
            self.base += len(buf)  # everything read is skipped (so a long line is never held whole)
            self.buf = buf = self.fh.read(BLOCK)
            self.i = p = 0
            if not buf:
                return done + partial  # the last line, without a newline
        return done

    def line(self):
        """The current line's bytes (None when ``read_lines`` would give an ``OversizedLine``),
        or ``_EOF``; moves past it."""
        cap = self.limit + 1
        while True:
            j = self.buf.find(b"\n", self.i)
            if j >= 0:
                text, self.i = self.buf[self.i:j + 1], j + 1
                return text if len(text) <= cap else None
            if len(self.buf) - self.i > cap:
                self.skip(1)
                return None
            data = self.fh.read(BLOCK)
            if not data:
                if self.i == len(self.buf):
                    return _EOF
                text, self.i = self.buf[self.i:], len(self.buf)
                return text if len(text) <= self.limit else None
            self.buf, self.base, self.i = self.buf[self.i:] + data, self.base + self.i, 0


def file_chunks(path: str, id_of, limit: int, min_lines: int, max_lines: int):
    """``(first line number, FileLines)`` for each chunk of the JSON Lines file at ``path``:
    at least ``min_lines`` lines (but the last), then cut before the first line whose
    subject id (``id_of`` of its text; None: unknown) differs from that of the line before
    it, or at ``max_lines`` lines whatever the ids say: where ``line_chunks`` cuts the
    same lines."""
    with open(path, "rb") as fh:
        scan = _Scanner(fh, limit)
        start, offset, have, last = 1, 0, 0, None
        while True:
            need = min_lines - 1 - have
            if need > 0:
                got = scan.skip(need)
                have += got
                if got < need:
                    break
            at = scan.pos
            text = scan.line()
            if text is _EOF:
                break
            this = None if text is None else id_of(text)
            if have >= min_lines and (have >= max_lines or (this is not None and last is not None and this != last)):
                yield start, FileLines(path, offset, have, limit)
                start, offset, have = start + have, at, 0
            have += 1
            last = this
        if have:
            yield start, FileLines(path, offset, have, limit)
