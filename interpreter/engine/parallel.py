"""Evaluate on several cores, or on a Dask cluster, with results identical to one process.

Takes a pack (folder or bundled name) and JSON Lines input; gives, lazily and in input
order, the same ``Result`` and ``Rejection`` objects a single-process ``evaluate`` gives
(same ``to_dict``, same ``input_line``, same notes).

How: the input is cut into chunks of consecutive lines, at places where the subject id
(the pack's ``[record] id``) changes, so that each subject's group, and so its history,
lies in one chunk (``ranges``; a file is cut into byte ranges that each worker reads
itself). Workers are forked with the caller's pack where that is safe (Linux, one
thread), else spawned: they load the pack by path and check its lock. Each evaluates
its chunk with the ordinary engine, from the chunk's first line number. The caller
checks every cut against the ids of the results: a group that still spans two chunks
(an id the text scan misread) is evaluated again as one, and a subject that reappears
in a later chunk gets the note a single run would give. For a caller that only writes
JSON and counts (``rulecite eval --jobs``), a chunk comes back finished
(``FinishedChunk``: its JSON text as UTF-8 bytes, rejections, subject groups, counts).

Size: about 540 lines: the finished chunks, the merger that checks the cuts and notes
subjects that come back, and the pool they run in share their rules; cutting the input
is in ``ranges``.
"""

from __future__ import annotations

import collections
import os
import sys
from typing import Iterable, Iterator

from rulecite.policy_lang.errors import RuleciteError

from rulecite.interpreter.api import as_date, load_pack
from rulecite.interpreter.engine import ranges
from rulecite.interpreter.engine.evaluator import DEFAULT_LIMITS, Evaluator, Limits
from rulecite.interpreter.engine.subjects import SubjectTracker
from rulecite.interpreter.engine.reading import read_lines
from rulecite.interpreter.engine.result_json import json_line
from rulecite.interpreter.engine.results import CONTRACT, Result, dumps, result_from_wire

CHUNK_LINES = 2000  # lines per chunk, at least (a chunk ends where the subject changes)
MAX_CHUNK_LINES = 50_000  # a chunk ends here whatever the ids say (the check repairs it)

_WORKER: dict = {}  # in a worker process: (pack, lock, as_of) -> Evaluator


class PackChanged(RuleciteError, RuntimeError):
    """A worker loaded a pack whose lock differs from the caller's: the run stops, incomplete."""

    code = "pack-changed"
    exit_code = 4


def _evaluator(pack_ref: str, lock: str, as_of, limits: Limits = DEFAULT_LIMITS) -> Evaluator:
    key = (pack_ref, lock, as_of, limits)
    ev = _WORKER.get(key)
    if ev is None:
        pack = load_pack(pack_ref)
        if pack.lock != lock:
            raise PackChanged(f"the pack at {pack_ref} has lock {pack.lock[:12]} in a worker, "
                              f"{lock[:12]} in the caller: it changed on disk during the run")
        ev = Evaluator(pack.compiled(as_date(as_of)), limits)
        _WORKER[key] = ev
    return ev


def _ignore_sigint():
    """In a worker: Ctrl-C is for the process that started it, which stops the run and says so
    (the terminal sends SIGINT to every process of the group)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _sigint_held:
    """SIGINT blocked (held pending, not lost) in this thread while a pool may start a worker:
    the worker inherits the mask, so a Ctrl-C while it still imports Rulecite (before
    ``_ignore_sigint`` runs) cannot print its traceback; this process gets the signal when
    the block ends."""

    def __enter__(self):
        import signal

        self.old = None
        if hasattr(signal, "pthread_sigmask"):
            self.old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def __exit__(self, *exc):
        if self.old is not None:
            import signal

            signal.pthread_sigmask(signal.SIG_SETMASK, self.old)


def evaluate_chunk(pack_ref: str, lock: str, as_of, start: int, lines: list,
                   limits: Limits = DEFAULT_LIMITS, finished: bool = False, counts: bool = True,
                   spool: str | None = None) -> list:
    """Evaluate one chunk in a worker: each result as ``Result.to_wire`` gives it (its
    parts and JSON text, no record: the caller has the input line), each rejection as
    itself. ``from_chunk`` makes them results again.

    ``finished``: the chunk's JSON texts, rejections, groups and counts only (what
    ``FinishedChunk`` holds, for a caller that writes JSON and counts: see
    ``evaluate_parallel``), which costs both sides much less to send and to take apart;
    ``counts`` off: no counts (zero), for a caller that does not count; ``spool``: a
    directory where the chunk's bytes are written, to a file named after ``start``, instead
    of being sent (see ``FinishedChunk``); sent after all where that file cannot be written."""
    run = _evaluator(pack_ref, lock, as_of, limits).run(lines, start=start, track_subjects=False)
    if finished:
        return _finish(run, counts, spool and os.path.join(spool, str(start)))
    return [item.to_wire() if item.kind == "result" else item for item in run]


def _finish(run, counts: bool = True, spool: str | None = None) -> tuple:
    """A chunk's items as ``FinishedChunk`` takes them (see there); ``spool``: the path of
    the file for its bytes."""
    lines, rejections, groups, notes = [], {}, [], {}
    allowed = denied = 0
    found: dict = {}
    last = _NONE
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
        if last is _NONE or gid != last:  # a new group, as _Merger._noted tells them apart
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
        if spool and _spooled(spool, data):
            data = (spool, len(data))
    return data, size, rejections, groups, notes, (allowed, denied, tuple(found.items()))


def _spooled(path: str, data: bytes) -> bool:
    """Whether ``data`` is now in a new file at ``path`` (readable by this user only); not
    where it cannot be written there (a full disk): then it is sent instead."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except OSError:
        return False
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        return True
    except OSError:
        os.unlink(path)
        return False
    finally:
        os.close(fd)


class FinishedChunk:
    """A chunk of a parallel run as the worker finished it, for a caller that writes JSON
    and counts (``evaluate_parallel(..., finished=True)``): ``data``, the JSON text of
    each input line's result or rejection in input order, from input line ``start`` on,
    each followed by a newline, as UTF-8 bytes (None in the rare chunk whose text is not
    UTF-8: then only ``texts``); ``texts``, the same as a list of ``str`` (made from
    ``data`` when asked for); ``rejections`` ({index: Rejection}); ``groups``, ``(index,
    subject id)`` where each subject's group starts (the caller's tracker hashes an id only
    when it must); ``notes`` ({index: a
    result's notes}, when it has any); ``counts``, ``(lines allowed, lines denied,
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

    @data.setter
    def data(self, value):
        self._data, self.file = value, None

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
        return self.groups[0][1] if self.groups else _NONE

    def last_id(self):
        return self.groups[-1][1] if self.groups else _NONE

    def add_note(self, i: int, note: str):
        """Put ``note`` first in the notes of the result at index ``i`` (unless it has it)."""
        old = self.notes.get(i, ())
        if note in old:
            return
        new = (note,) + old
        texts = self.texts
        text, tail = texts[i], _tail(self.start + i, old)
        if not text.endswith(tail):  # cannot happen for the shapes _finished_ok accepts
            raise RuntimeError(f"the JSON text of the result of input line {self.start + i} does not end as a "
                               "result's does")
        texts[i] = text[:-len(tail)] + _tail(self.start + i, new)
        self.notes[i] = new
        self.release()
        self.data = None  # made again from the texts when the notes are in (see _Merger._note_chunk)

    def _encode(self):
        """``data`` again from ``texts`` after notes were added (None if not UTF-8)."""
        try:
            self.data = ("\n".join(self._texts) + "\n").encode("utf-8") if self.size else b""
        except UnicodeEncodeError:
            self.data = None


def _tail(input_line: int, notes) -> str:
    return f',"input_line":{input_line}' + (f',"notes":{dumps(list(notes))}' if notes else "") + _CONTRACT_TAIL


_CONTRACT_TAIL = ',"contract":' + dumps(CONTRACT) + "}"
_RESULT_KEYS = frozenset({"pack", "as_of", "lines", "findings", "suggestions", "input_line", "notes", "contract"})


def _finished_ok(shape) -> bool:
    """Whether results of this record shape can travel in a ``FinishedChunk``: its id and
    period fields are not keys of the result object (which would move the notes)."""
    return shape.id not in _RESULT_KEYS and shape.period not in _RESULT_KEYS


def from_finished(start: int, finished: tuple) -> FinishedChunk:
    """The ``FinishedChunk`` of what ``evaluate_chunk(..., finished=True)`` returned."""
    return FinishedChunk(start, *finished)


def from_chunk(ev: Evaluator, items: list) -> list:
    """Results and rejections from what ``evaluate_chunk`` returned."""
    shape, packref, as_of = ev.shape, ev.packref, ev.as_of
    return [result_from_wire(shape.id, shape.period, packref, as_of, x) if type(x) is tuple else x for x in items]


def _pack_ref(pack_path_or_name) -> str:
    p = os.fspath(pack_path_or_name)
    return os.path.abspath(p) if os.path.exists(p) else p


# ---------------------------------------------------------------- cutting the input


def _chunks(lines: Iterable, id_of) -> Iterator[tuple]:
    """(first input line number, [lines]) cut where the subject id read from the text changes."""
    return ranges.line_chunks(lines, id_of, CHUNK_LINES, MAX_CHUNK_LINES)


# ---------------------------------------------------------------- putting results back together


class _Merger:
    """Checks each cut against the results and gives them in order, as one run would."""

    def __init__(self, evaluator: Evaluator):
        self.ev = evaluator
        self.shape = evaluator.shape
        self.pending: list = []  # [(start, lines, results)]: a block whose last group may go on
        self.seen = SubjectTracker(self.shape)
        self.gid = _NONE
        self.group_note = None
        self.resume = None  # the engine's state where pending starts (see subjects.run_groups)

    def add(self, start, lines, results) -> list:
        """``results``: a list of results and rejections, or a ``FinishedChunk``."""
        if type(results) is FinishedChunk:
            first = results.first_id()
        else:
            first = next((r.id for r in results if r.kind == "result"), _NONE)
        if not self.pending:
            self.pending = [(start, lines, results)]
            return []
        last = _last_id(self.pending)
        if last is _NONE and self.resume is not None and self.resume[1]:
            last = self.resume[0]  # the pending block starts after a cut group of this subject
        if first is not _NONE and (last is _NONE or first != last):
            out = self._release()
            self.pending = [(start, lines, results)]
            self.resume = None
            return out
        # A group spans the cut, or the chunk holds only rejections (which a single run
        # keeps in the pending group, and counts towards its cap): evaluate the block and
        # this chunk again, as one, from where the block's state is known. Then keep only
        # what follows the last point at which no group was pending (the engine's
        # checkpoint): memory stays bounded by a group and a chunk.
        start0 = self.pending[0][0]
        merged = [x for _, ls, _ in self.pending for x in ls] + list(lines)
        again = evaluate_chunk_local(self.ev, start0, merged, self.resume)
        self.pending = [(start0, merged, again)]
        checkpoint = getattr(self.ev, "checkpoint", None)
        if checkpoint is None or checkpoint[0] <= start0:
            return []
        line, gid, cut = checkpoint
        done = [r for r in again if r.input_line < line]
        self.pending = [(start0, merged[:line - start0], done)]
        out = self._release()
        self.pending = [(line, merged[line - start0:], [r for r in again if r.input_line >= line])]
        self.resume = (gid, cut)
        return out

    def finish(self) -> list:
        return self._release()

    def _release(self) -> list:
        out = []
        for _, _, results in self.pending:
            if type(results) is FinishedChunk:
                self._note_chunk(results)
                out.append(results)
                continue
            for r in results:
                if r.kind == "result":
                    r = self._noted(r)
                out.append(r)
        self.pending = []
        return out

    def _note_chunk(self, chunk: "FinishedChunk"):
        """What ``_noted`` does to each result, done to a finished chunk group by group."""
        groups = chunk.groups
        for g, (i, gid) in enumerate(groups):
            if self.gid is _NONE or gid != self.gid:
                self.gid = gid
                self.group_note = self.seen.note(gid)
            note = self.group_note
            if note is not None:
                end = groups[g + 1][0] if g + 1 < len(groups) else len(chunk)
                for j in range(i, end):
                    if j not in chunk.rejections:
                        chunk.add_note(j, note)
        if chunk._data is None and chunk.file is None and chunk._texts is not None:
            chunk._encode()

    def _noted(self, r: Result) -> Result:
        if self.gid is _NONE or r.id != self.gid:
            self.gid = r.id
            self.group_note = self.seen.note(r.id)
        if self.group_note is not None and self.group_note not in r.notes:
            r = r.with_notes((self.group_note,) + tuple(r.notes))  # first, as a single run gives it
        return r


_NONE = object()


def _last_id(pending):
    for _, _, results in reversed(pending):
        if type(results) is FinishedChunk:
            if results.groups:
                return results.last_id()
            continue
        for r in reversed(results):
            if r.kind == "result":
                return r.id
    return _NONE


def evaluate_chunk_local(ev: Evaluator, start: int, lines: list, resume=None) -> list:
    ev.checkpoint = None
    return list(ev.run(lines, start=start, track_subjects=False, resume=resume))


def _ordered(submit, ev: Evaluator, chunks: Iterator, window: int, finished: bool = False) -> Iterator:
    """Submit chunks (at most ``window`` in flight) and give their results in input order
    (``finished``: the workers send ``FinishedChunk`` parts, given as such where no cut
    needs repair)."""
    merger = _Merger(ev)
    inflight: collections.deque = collections.deque()

    def convert(start, lines, got):
        if not finished:
            return from_chunk(ev, got)
        chunk = from_finished(start, got)
        chunk.offset = getattr(lines, "offset", None)  # a file's range (ranges.FileLines): for a progress line
        return chunk

    for start, lines in chunks:
        inflight.append((start, lines, submit(start, lines)))
        while len(inflight) >= window:
            s, ls, fut = inflight.popleft()
            yield from merger.add(s, ls, convert(s, ls, fut.result()))
    while inflight:
        s, ls, fut = inflight.popleft()
        yield from merger.add(s, ls, convert(s, ls, fut.result()))
    yield from merger.finish()


# ---------------------------------------------------------------- the two entry points


def evaluate_parallel(pack_path_or_name, lines: Iterable | None, jobs: int, as_of=None,
                      limits: Limits = DEFAULT_LIMITS, finished: bool = False, counts: bool = True,
                      path=None, pack=None, spool: bool = False) -> Iterator:
    """Evaluate JSON Lines (``str`` or ``bytes`` items) in ``jobs`` processes; yield one
    ``Result`` or ``Rejection`` per line, in input order, identical to ``evaluate``
    with the same ``as_of`` and ``limits``.

    Results carry no ``record`` (workers do not send the input back). ``finished``: with
    ``jobs`` > 1, the items of a chunk may come as one ``FinishedChunk`` (their JSON text
    and counts, made in the workers), which costs the caller little more than moving its
    bytes: for a caller that writes JSON (``rulecite eval --jobs``); ``counts`` off: their
    ``counts`` are zero (for a caller that does not count). ``path``: the lines are those
    of this JSON Lines file (a regular file, read as ``reading.read_lines`` reads it with
    ``limits.max_record_bytes``; ``lines`` is not read): each worker reads its own part
    (see ``ranges``), so this process reads no record. ``pack``: the pack at
    ``pack_path_or_name``, already loaded (it is not loaded again). ``spool`` (with
    ``finished``): the workers write each finished chunk's bytes to a file in a private
    temporary directory instead of sending them through a pipe, and the caller copies
    them to its output with ``FinishedChunk.write_to`` (in the kernel: the bytes never
    pass through this process), before it asks for the next item: then the file goes."""
    if jobs <= 1:
        ev = Evaluator((pack if pack is not None else load_pack(pack_path_or_name)).compiled(as_date(as_of)), limits)
        if path is None:
            yield from ev.run(lines)
            return
        with open(path, "rb") as fh:
            yield from ev.run(read_lines(fh, limits.max_record_bytes))
        return
    import concurrent.futures as cf
    import gc
    import multiprocessing

    ref = _pack_ref(pack_path_or_name)
    as_of_text = None if as_of is None else str(as_of)
    method = _start_method()
    key = ev = None
    if method == "fork":  # the workers start with the pack loaded and compiled here: no start-up of their own
        pack = pack if pack is not None else load_pack(pack_path_or_name)
        ev = Evaluator(pack.compiled(as_date(as_of)), limits)
        key = (ref, pack.lock, as_of_text, limits)
        key = None if key in _WORKER else key  # (this process has one already: the workers get that)
        if key is not None:
            _WORKER[key] = ev
        _flush_std_streams()  # a child must not write again what this process has buffered
        # What exists now (the modules, the compiled pack) goes to the collector's permanent
        # generation: a forked worker's collections then never walk it, so its pages stay
        # shared with this process instead of being copied (about a tenth of the workers' CPU
        # on the CMS pack). The pool may fork a worker at any submit, so this process takes
        # it back when the run ends (``_thawed``).
        gc.freeze()
    try:
        pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method),
                                      initializer=_ignore_sigint)
        with _sigint_held():  # start the workers now (spawn: their start-up overlaps the pack load below)
            for _ in range(jobs):
                pool.submit(_ready)
    finally:
        if key is not None:
            _WORKER.pop(key, None)  # the workers have their copy
    with pool, _thawed(method == "fork"):
        if ev is None:
            pack = pack if pack is not None else load_pack(pack_path_or_name)
            ev = Evaluator(pack.compiled(as_date(as_of)), limits)
        finished = finished and _finished_ok(ev.shape)
        lock = pack.lock

        spool_dir = _spool_dir() if spool and finished else None

        def submit(start, chunk):
            with _sigint_held():
                return pool.submit(evaluate_chunk, ref, lock, as_of_text, start, chunk, limits, finished, counts,
                                   spool_dir)

        id_of = ranges.IdReader(pack.model.shape.id)
        if path is not None:
            chunks = ranges.file_chunks(os.fspath(path), id_of, limits.max_record_bytes, CHUNK_LINES,
                                        MAX_CHUNK_LINES)
        else:
            chunks = _chunks(lines, id_of)
        try:
            for item in _ordered(submit, ev, chunks, 2 * jobs, finished):
                yield item
                if type(item) is FinishedChunk:
                    item.release()
        finally:
            if spool_dir is not None:
                pool.shutdown(wait=True, cancel_futures=True)  # no worker writes there any more
                import shutil

                shutil.rmtree(spool_dir, ignore_errors=True)


def _spool_dir() -> str | None:
    """A new directory, readable by this user only, for the run's spooled chunks (see
    ``evaluate_parallel``); None where none can be made (then chunks are sent)."""
    import tempfile

    try:
        return tempfile.mkdtemp(prefix="rulecite-chunks-")
    except OSError:
        return None


class _thawed:
    """``gc.unfreeze()`` when the block ends (the run's workers are done), if ``on``."""

    def __init__(self, on: bool):
        self.on = on

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.on:
            import gc

            gc.unfreeze()
        return False


def _start_method() -> str:
    """``fork`` where it is safe: on Linux, while this process runs no other thread (a
    child holds only the forking thread, so a lock another thread held would stay held
    in it); ``spawn`` elsewhere (macOS, Windows) and otherwise."""
    import multiprocessing
    import threading

    if (sys.platform.startswith("linux") and threading.active_count() == 1
            and "fork" in multiprocessing.get_all_start_methods()):
        return "fork"
    return "spawn"


def _flush_std_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # None, or closed
            pass


def _ready():
    """A task that starts a worker process (the pool starts one per task while none is idle)."""


def evaluate_dask(pack_path_or_name, path, scheduler=None, n_workers: int = 2, as_of=None,
                  limits: Limits = DEFAULT_LIMITS) -> Iterator:
    """Evaluate a JSON Lines file on Dask (extra ``scale``), partitioned by subject; yield
    results in input order, identical to ``evaluate``.

    ``scheduler`` is the address of an existing cluster; by default a
    ``distributed.LocalCluster`` with ``n_workers`` processes runs for the call. Workers
    need Rulecite installed and the pack at the same path (or a bundled pack name)."""
    from distributed import Client, LocalCluster

    pack = load_pack(pack_path_or_name)
    ev = Evaluator(pack.compiled(as_date(as_of)), limits)
    ref = _pack_ref(pack_path_or_name)
    as_of_text = None if as_of is None else str(as_of)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        window = 2 * max(1, len(client.scheduler_info().get("workers", {})) or n_workers)
        with open(path, "rb") as fh:
            lines = read_lines(fh, limits.max_record_bytes)  # no line read whole past the limit
            def submit(start, chunk):
                return client.submit(evaluate_chunk, ref, pack.lock, as_of_text, start, chunk, limits,
                                     pure=False)

            yield from _ordered(submit, ev, _chunks(lines, ranges.IdReader(pack.model.shape.id)), window)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
