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
(``chunks.FinishedChunk``: its JSON text as UTF-8 bytes, spooled to a file the caller
copies to its output, rejections, subject groups, counts).

Here: the workers' entry point, the merger that checks the cuts and notes subjects that
come back, and the pool they run in; what a finished chunk holds is in ``chunks``, cutting
the input in ``ranges``.
"""

from __future__ import annotations

import collections
import os
import sys
from typing import Iterable, Iterator

from rulecite.interpreter.api import as_date, load_pack
from rulecite.interpreter.engine import ranges
from rulecite.interpreter.engine.chunks import (
    NO_SUBJECT,
    FinishedChunk,
    finish_chunk,
    finished_ok,
    from_finished,
    spool_dir,
)
from rulecite.interpreter.engine.evaluator import DEFAULT_LIMITS, Evaluator, Limits
from rulecite.interpreter.engine.reading import read_lines
from rulecite.interpreter.engine.results import Result, result_from_wire
from rulecite.interpreter.engine.subjects import SubjectTracker
from rulecite.policy_lang.errors import RuleciteError

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
        return finish_chunk(run, counts, spool and os.path.join(spool, str(start)))
    return [item.to_wire() if item.kind == "result" else item for item in run]


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
        self.gid = NO_SUBJECT
        self.group_note = None
        self.resume = None  # the engine's state where pending starts (see subjects.run_groups)

    def add(self, start, lines, results) -> list:
        """``results``: a list of results and rejections, or a ``FinishedChunk``."""
        if type(results) is FinishedChunk:
            first = results.first_id()
        else:
            first = next((r.id for r in results if r.kind == "result"), NO_SUBJECT)
        if not self.pending:
            self.pending = [(start, lines, results)]
            return []
        last = _last_id(self.pending)
        if last is NO_SUBJECT and self.resume is not None and self.resume[1]:
            last = self.resume[0]  # the pending block starts after a cut group of this subject
        if first is not NO_SUBJECT and (last is NO_SUBJECT or first != last):
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

    def _note_chunk(self, chunk: FinishedChunk):
        """What ``_noted`` does to each result, done to a finished chunk group by group."""
        groups = chunk.groups
        for g, (i, gid) in enumerate(groups):
            if self.gid is NO_SUBJECT or gid != self.gid:
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
        if self.gid is NO_SUBJECT or r.id != self.gid:
            self.gid = r.id
            self.group_note = self.seen.note(r.id)
        if self.group_note is not None and self.group_note not in r.notes:
            r = r.with_notes((self.group_note,) + tuple(r.notes))  # first, as a single run gives it
        return r


def _last_id(pending):
    for _, _, results in reversed(pending):
        if type(results) is FinishedChunk:
            if results.groups:
                return results.last_id()
            continue
        for r in reversed(results):
            if r.kind == "result":
                return r.id
    return NO_SUBJECT


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
        finished = finished and finished_ok(ev.shape)
        lock = pack.lock

        spool_at = spool_dir() if spool and finished else None

        def submit(start, chunk):
            with _sigint_held():
                return pool.submit(evaluate_chunk, ref, lock, as_of_text, start, chunk, limits, finished, counts,
                                   spool_at)

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
            if spool_at is not None:
                pool.shutdown(wait=True, cancel_futures=True)  # no worker writes there any more
                import shutil

                shutil.rmtree(spool_at, ignore_errors=True)


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
