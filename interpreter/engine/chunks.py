"""Finished chunks of a parallel run: what a worker sends back for a caller that only
writes JSON and counts, and how that caller writes it.

Takes a chunk's results and rejections, in a worker (``finish_chunk``); gives the parts of a
``FinishedChunk`` (its JSON text as UTF-8 bytes, or written to a file of the run's
spool directory; rejections; where each subject's group starts; notes; counts), which
the caller makes one of (``from_finished``), adds the note on a subject that comes back
to (``FinishedChunk.add_note``, remaking the text's tail) and writes
(``FinishedChunk.write_to``: from the file, in the kernel, where it has one). The pool,
the cuts and the merger are in ``parallel``.
"""

from __future__ import annotations

import os

from rulecite.interpreter.engine.result_json import json_line
from rulecite.interpreter.engine.results import CONTRACT, dumps

NO_SUBJECT = object()  # no subject yet (a chunk of rejections only)


def finish_chunk(run, counts: bool = True, spool: str | None = None) -> tuple:
    """A chunk's items as ``FinishedChunk`` takes them (see there); ``spool``: the path of
    the file for its bytes."""
    lines, rejections, groups, notes = [], {}, [], {}
    allowed = denied = 0
    found: dict = {}
    last = NO_SUBJECT
    text = False  # a text that is not UTF-8 (a lone surrogate): then texts, for the caller's writer to judge
    for i, item in enumerate(run):
        line = json_line(item)  # the bytes of to_json() + "\n", where the fast road makes them
        if line is None:
            line = item.to_json() + "\n"
            try:
                line = line.encode("utf-8")
            except UnicodeEncodeError:
                text = True
        lines.append(line)
        if item.kind != "result":
            rejections[i] = item
            continue
        gid = item.id
        if last is NO_SUBJECT or gid != last:  # a new group, as _Merger._noted tells them apart
            groups.append((i, gid))
            last = gid
        if item.notes:
            notes[i] = tuple(item.notes)
        if not counts:
            continue
        a, d, fs = item.counts()
        allowed += a
        denied += d
        for f in fs:
            found[f] = found.pop(f, 0) + 1  # in the order of each one's last finding (Tally keeps its severity)
    if text:
        data, size = None, [(x.decode("utf-8") if type(x) is bytes else x)[:-1] for x in lines]
    else:
        data, size = b"".join(lines), len(lines)  # one object: cheap to send
        if spool and spooled(spool, data):
            data = (spool, len(data))
    return data, size, rejections, groups, notes, (allowed, denied, tuple(found.items()))


def spooled(path: str, data: bytes) -> bool:
    """Whether ``data`` is now in a new file at ``path`` (readable by this user only); not
    where it cannot be written there (a full disk): then it is sent instead."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except OSError:
        return False
    ok = False
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        ok = True
    except OSError:
        pass
    finally:
        os.close(fd)
    if not ok:  # closed first: a file still open cannot be removed everywhere (Windows)
        try:
            os.unlink(path)
        except OSError:
            pass
    return ok


class FinishedChunk:
    """A chunk of a parallel run as the worker finished it, for a caller that writes JSON
    and counts (``evaluate_parallel(..., finished=True)``): ``data``, the JSON text of
    each input line's result or rejection in input order, from input line ``start`` on,
    each followed by a newline, as UTF-8 bytes (None in the rare chunk whose text is not
    UTF-8: then only ``texts``); ``texts``, the same as a list of ``str`` (made from
    ``data`` when asked for); ``rejections`` ({index: Rejection}); ``groups``, ``(index,
    subject id)`` where each subject's group starts (the caller's tracker hashes an id only
    when it must); ``notes`` ({index: a result's notes}, when it has any); ``counts``, ``(lines allowed, lines denied,
    (((rule, severity), findings), ...))`` over its results (what ``Result.counts`` gives,
    summed). The caller adds the note on a subject that comes back (``_Merger``),
    remaking the text's tail: the notes are the last key but one of a result's JSON
    object (see ``Result.to_dict``).

    A spooled chunk (``evaluate_parallel(..., spool=True)``) came without its bytes: the
    worker wrote them to ``file`` (``nbytes`` long), which ``data`` reads when asked and
    ``write_to`` copies to an output in the kernel where it can; the file is removed
    (``release``) when the caller asks for the next item, and with its directory when
    the run ends."""

    __slots__ = ("start", "_data", "file", "nbytes", "_texts", "size", "rejections", "groups", "notes", "counts",
                 "offset")
    kind = "chunk"

    def __init__(self, start, data, texts, rejections, groups, notes, counts):
        """``texts``: the list of texts, or (with ``data``) how many there are; ``data``:
        bytes, None, or ``(path, size)`` of a spooled chunk's file."""
        self.start, self.rejections = start, rejections
        self.file = self.nbytes = self.offset = None  # offset: where its lines start in the input file, if known
        if type(data) is tuple:
            (self.file, self.nbytes), data = data, None
        self._data = data
        self._texts, self.size = (None, texts) if type(texts) is int else (texts, len(texts))
        self.groups, self.notes, self.counts = groups, notes, counts

    def __len__(self) -> int:
        return self.size

    @property
    def data(self):
        if self._data is None and self.file is not None:
            with open(self.file, "rb") as f:
                self._data = f.read()
        return self._data

    def write_to(self, out) -> None:
        """Write the chunk's bytes to ``out``: from its file where it has one
        (``out.write_file(fd, size)``, see ``cli._output.GuardedOutput``), else as
        ``out.write_utf8(data)``."""
        if self.file is None:
            out.write_utf8(self.data)
            return
        fd = os.open(self.file, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            out.write_file(fd, self.nbytes)
        finally:
            os.close(fd)

    def release(self) -> None:
        """Remove the chunk's file, if it has one (its bytes, if read, stay)."""
        if self.file is not None:
            try:
                os.unlink(self.file)
            except FileNotFoundError:
                pass
            self.file = None

    @property
    def texts(self) -> list:
        if self._texts is None:
            self._texts = self.data.decode("utf-8").split("\n")[:-1] if self.size else []
        return self._texts

    def first_id(self):
        return self.groups[0][1] if self.groups else NO_SUBJECT

    def last_id(self):
        return self.groups[-1][1] if self.groups else NO_SUBJECT

    def add_note(self, i: int, note: str):
        """Put ``note`` first in the notes of the result at index ``i`` (unless it has it)."""
        old = self.notes.get(i, ())
        if note in old:
            return
        new = (note,) + old
        texts = self.texts
        text, tail = texts[i], _tail(self.start + i, old)
        if not text.endswith(tail):  # cannot happen for the shapes finished_ok accepts
            raise RuntimeError(f"the JSON text of the result of input line {self.start + i} does not end as a "
                               "result's does")
        texts[i] = text[:-len(tail)] + _tail(self.start + i, new)
        self.notes[i] = new
        self.release()  # the file's bytes are not the chunk's any more
        self._data = None  # made again from the texts when the notes are in (see _Merger._note_chunk)

    def _encode(self):
        """``data`` again from ``texts`` after notes were added (None if not UTF-8)."""
        try:
            self._data = ("\n".join(self._texts) + "\n").encode("utf-8") if self.size else b""
        except UnicodeEncodeError:
            self._data = None


def _tail(input_line: int, notes) -> str:
    return f',"input_line":{input_line}' + (f',"notes":{dumps(list(notes))}' if notes else "") + _CONTRACT_TAIL


_CONTRACT_TAIL = ',"contract":' + dumps(CONTRACT) + "}"
_RESULT_KEYS = frozenset({"pack", "as_of", "lines", "findings", "suggestions", "input_line", "notes", "contract"})


def finished_ok(shape) -> bool:
    """Whether results of this record shape can travel in a ``FinishedChunk``: its id and
    period fields are not keys of the result object (which would move the notes)."""
    return shape.id not in _RESULT_KEYS and shape.period not in _RESULT_KEYS


def from_finished(start: int, finished: tuple) -> FinishedChunk:
    """The ``FinishedChunk`` of what ``evaluate_chunk(..., finished=True)`` returned."""
    return FinishedChunk(start, *finished)


def spool_dir() -> str | None:
    """A new directory, readable by this user only, for the run's spooled chunks (see
    ``evaluate_parallel``); None where none can be made (then chunks are sent)."""
    import tempfile

    try:
        return tempfile.mkdtemp(prefix="rulecite-chunks-")
    except OSError:
        return None
