"""Grouping records by subject: what each record sees as ``history``.

Records of the same subject (the pack's ``[record] id``) that are next to each other
in the input form a group; each record sees the group's records of earlier periods
as ``history``. Input grouped by subject (e.g. sorted by id, then month) keeps memory
bounded by the largest group. A subject that shows up again after other subjects
starts a new group: its results carry a note saying that history saw only that group
(``SubjectTracker``, which remembers a 64-bit digest per subject in a ``KeySet``). A
group holds at most ``limits.max_group`` entries; the subject's next records in a row
form a new group, with a note.

``run_each`` and ``run_groups`` are the loops ``Evaluator.run`` runs; ``find_record``
(what ``rulecite explain`` and ``rulecite evidence`` read) runs the same loops over
the same input, so that one record is judged on the same facts and the same history
by every command, or rejected with the same ``Rejection``.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
from array import array

import attrs

from rulecite.interpreter.engine.decode import decode_record, loads_lenient
from rulecite.interpreter.engine.results import Rejection

NOGROUP = object()  # the subject before the first record


def subject_key(gid) -> int:
    """A stable 64-bit key for a subject id (never 0): what the engine remembers of each
    group. Ids that compare equal as numbers (``1``, ``1.0``, ``True``) share a key, as
    they share a group; text is hashed as its UTF-8 bytes, anything else as its ``repr``
    under another personalisation, which keeps them apart (``"1"`` and ``1``). The key is
    the first 8 bytes of the BLAKE2b digest (the default digest size is the cheapest to
    ask for)."""
    if type(gid) is str or isinstance(gid, str):
        return _first_8(_blake2b(str.encode(gid, "utf-8", "surrogatepass")).digest())[0] or 1
    t = type(gid)
    if t is bool or (t is float and gid.is_integer()):
        gid = int(gid)
    return _first_8(_blake2b(repr(gid).encode("utf-8", "surrogatepass"),
                             person=b"rulecite-repr").digest())[0] or 1


_blake2b = hashlib.blake2b
_first_8 = struct.Struct("<Q").unpack_from


class KeySet:
    """A set of non-zero 64-bit keys in one open-addressing table of 8-byte slots, at most
    three quarters full and doubled when it would be fuller: 11 to 21 bytes a key (a
    Python set of the same keys takes about 60)."""

    __slots__ = ("table", "size", "n", "limit")

    def __init__(self, size: int = 1024):
        self.size = size
        self.table = array("Q", bytes(8 * self.size))
        self.n = 0
        self.limit = self.size * 3 // 4

    def add(self, key: int) -> bool:
        """Add ``key``; True if it was there already."""
        table = self.table
        size = self.size
        i = key % size
        k = table[i]
        while k:
            if k == key:
                return True
            i += 1
            if i == size:
                i = 0
            k = table[i]
        table[i] = key
        self.n += 1
        if self.n > self.limit:
            self._grow()
        return False

    def __len__(self) -> int:
        return self.n

    def _grow(self):
        old = self.table
        self.size = size = len(old) * 2
        self.limit = size * 3 // 4
        self.table = table = array("Q", bytes(8 * size))
        for key in old:
            if key:
                i = key % size
                while table[i]:
                    i += 1
                    if i == size:
                        i = 0
                table[i] = key


class SubjectTracker:
    """Notes a subject whose group comes back after other subjects' groups.

    It keeps a 64-bit digest per subject it has seen (``subject_key``, in a ``KeySet``:
    about 12 bytes each), so memory grows with the number of distinct subjects, not with
    the number of records (a subject's months are one group). Two ids sharing a digest
    would give a wrong note; the odds are about n^2 / 2^65 for n subjects (1 in 37
    million at a million subjects).

    Input sorted by id (as the notes advise) never brings a subject back, so digests wait:
    while every id is text greater than the one before, none can have been seen, and the
    ids are only kept, UTF-8 and NUL-ended, in one byte string (``run``: about as many
    bytes as the ids, as the table would take). The first id that is not (a smaller one,
    or not text) ends the run: the kept ids get their digests then, and the table answers
    from there on. The notes are the same either way; sorted input pays no digest."""

    def __init__(self, shape):
        self.shape = shape
        self._keys = None  # the table, made when the run ends (sized for the ids kept so far)
        self._run = bytearray()  # the ids of the increasing run, each ended by NUL; None once it ended
        self._last = ""  # the run's last id

    @property
    def seen(self) -> KeySet:
        """The digests of every subject seen (the run's ids are added first)."""
        if self._run is not None:
            self._end_run()
        return self._keys

    def note(self, gid):
        """The note for ``gid``'s group, or None: a subject seen before comes back."""
        run = self._run
        if run is not None:
            if type(gid) is str and gid > self._last and "\0" not in gid:
                self._last = gid
                run += gid.encode("utf-8", "surrogatepass")
                run.append(0)
                return None
            self._end_run()
        if self._keys.add(subject_key(gid)):
            return repeat_note(self.shape, gid)
        return None

    def _end_run(self):
        run, self._run = self._run, None
        texts = run.split(b"\0")[:-1]
        size = 1024
        while size * 3 // 4 <= 2 * len(texts):  # room for as many ids again before it grows
            size *= 2
        self._keys = KeySet(size)
        add = self._keys.add
        for text in texts:  # as subject_key hashes text
            add(_first_8(_blake2b(text).digest())[0] or 1)


def cut_note(shape, gid, cap: int, first_line: int) -> str:
    """The note on the results of a subject's group that goes on after a full one."""
    return (f"{shape.id} {gid} has more records in a row than one group holds (the limit is {cap}): history "
            f"sees only this group's, from input line {first_line} on")


def repeat_note(shape, gid) -> str:
    """The note on the results of a group whose subject already had an earlier group."""
    return (f"{shape.id} {gid} also appears earlier in the input, apart from this group: "
            "history sees only this group (sort the input by id, then period)")


# ---------------------------------------------------------------- the loops


def _named(item, packref):
    """A rejection of reading, naming the pack that was to judge it (``Evaluator.judge``
    names those it makes itself)."""
    if item.pack is None and packref is not None:
        return item.with_pack(packref)
    return item


def run_each(ev, records, start: int = 1, track_subjects: bool = True, prepare=None, judge=None):
    """``Evaluator.run`` for a pack no rule of which reads history: each record is judged as
    soon as it is read (the same results, in the same order, as ``run_groups``; the note
    on a subject that comes back depends only on the groups before its own). The hot
    loop of evaluation. Every rejection names the pack: those of reading are named here,
    ``Evaluator.judge`` names its own."""
    # The evaluator's own reading of a dict its accept path takes is inlined: the coverage
    # check alone (``Evaluator.prepare`` does the same, one call deeper).
    accept = getattr(ev, "accept_dict", None) if prepare is None else None
    every = accept is True  # trusted mode: every dict
    cover = ev.cover if accept is not None else None
    prepare = prepare or ev.prepare
    judge = judge or ev.judge
    packref = getattr(ev, "packref", None)
    shape_id = ev.shape.id
    seen = SubjectTracker(ev.shape) if track_subjects else None
    gid = NOGROUP
    notes = ()
    n = start - 1
    for item in records:
        n += 1
        if accept is not None and type(item) is dict and (every or accept(item)):
            rec = cover(item, n)
        else:
            rec = prepare(item, n)
        if isinstance(rec, Rejection):
            yield _named(rec, packref)
            continue
        pid = rec.get(shape_id)
        if pid != gid:
            gid = pid
            if seen is not None:
                note = seen.note(pid)
                notes = () if note is None else (note,)
        yield judge(rec, _NO_HISTORY, n, notes)  # a rejection judge makes names the pack itself
    ev.checkpoint = (n + 1, None, False)  # each record stands alone: any line is a restart point


_NO_HISTORY: list = []  # what a record of a pack that never reads history gets (never changed)


def run_groups(ev, records, start: int = 1, track_subjects: bool = True, resume=None, prepare=None, judge=None):
    """``Evaluator.run`` for a pack that reads history: a subject's group is judged when it ends.

    Memory is bounded: a rejection is given at once when no group is pending (one
    that comes while a group is pending waits for it, to keep input order), and a
    group holds at most ``limits.max_group`` entries (records and the rejections
    among them). A full group is judged as it stands; the subject's next records
    in a row form a new group whose results carry a note saying that history saw
    only that group, from its first input line on.

    ``ev.checkpoint`` is kept as ``(line, gid, cut)``: the next input line at which
    no group was pending, and the state there (``resume`` for a run that starts at
    that line: the subject whose group was cut there, or None). The parallel merger
    restarts from it, so that it never holds more than a group and a chunk.

    ``prepare`` and ``judge`` are the evaluator's unless given (``find_record`` gives its own).
    Every rejection names the pack, as in ``run_each``."""
    accept = getattr(ev, "accept_dict", None) if prepare is None else None  # as in run_each
    every = accept is True  # trusted mode: every dict
    cover = ev.cover if accept is not None else None
    prepare = prepare or ev.prepare
    judge = judge or ev.judge
    packref = getattr(ev, "packref", None)
    shape = ev.shape
    cap = max(1, ev.limits.max_group)
    group: list = []  # (n, record or Rejection)
    gid, cut = (NOGROUP, False) if resume is None else resume
    notes: tuple = ()  # the tracker's note on the current subject's groups
    seen = SubjectTracker(shape) if track_subjects else None
    n = start - 1
    ev.checkpoint = (start, None if gid is NOGROUP else gid, cut)
    for item in records:
        n += 1
        if accept is not None and type(item) is dict and (every or accept(item)):
            prepared = cover(item, n)
        else:
            prepared = prepare(item, n)
        if isinstance(prepared, Rejection):
            prepared = _named(prepared, packref)
            if not group:  # nothing waits: the rejection goes out at once
                ev.checkpoint = (n + 1, None if gid is NOGROUP else gid, cut)
                yield prepared
                continue
            # else it waits in the group, to keep input order
        else:
            pid = prepared.get(shape.id)
            if pid != gid or not group:  # a group is named by its first record's id (1 and 1.0 are one group)
                if group:
                    yield from flush(ev, group, group_notes, judge)
                    group = []
                ev.checkpoint = (n, None if gid is NOGROUP else gid, cut)
                if pid != gid or not cut:
                    gid, cut = pid, False
                    note = seen.note(pid) if seen is not None else None
                    notes = () if note is None else (note,)
                    group_notes = notes
                else:  # the subject's group was cut at the cap: this one goes on from here
                    group_notes = notes + (cut_note(shape, pid, cap, n),)
        group.append((n, prepared))
        if len(group) >= cap:
            yield from flush(ev, group, group_notes, judge)
            group = []
            cut = True
            ev.checkpoint = (n + 1, gid, cut)
    if group:  # the input ended, not the group: the checkpoint stays where the group began
        yield from flush(ev, group, group_notes, judge)


def flush(ev, group, notes, judge):
    """Judge one group: each record with the group's records of earlier periods as history."""
    if len(group) == 1:  # most groups of a month-by-month input are one record: no history to build
        n, rec = group[0]
        return (rec if isinstance(rec, Rejection) else judge(rec, _NO_HISTORY, n, notes),)
    return _flush(ev, group, notes, judge)


def _flush(ev, group, notes, judge):
    valid = [rec for _, rec in group if not isinstance(rec, Rejection)]
    period = ev.shape.period
    # Sorted once per group (stable: input order within a period), so that building
    # each record's history costs a slice, not a sort: linear-ish in the group's size.
    ordered = sorted(valid, key=lambda r: r[period]) if len(valid) > 1 and ev.uses_history else []
    periods = [r[period] for r in ordered]
    for n, rec in group:
        if isinstance(rec, Rejection):
            yield rec
            continue
        hist = ordered[:bisect.bisect_left(periods, rec[period])] if ordered else []
        yield judge(rec, hist, n, notes)


# ---------------------------------------------------------------- one record, as evaluate reads it


@attrs.frozen
class Found:
    """One record of an input, read as ``evaluate`` reads it.

    ``record`` is the decoded record (None when it could not be decoded), ``history``
    what evaluation gives it as history (its group's records of earlier periods),
    ``rejection`` the Rejection evaluation gives it before judging it (None when it is
    judged), ``notes`` the group's notes, ``input_line`` where it is."""

    record: dict | None
    history: list
    rejection: Rejection | None
    input_line: int
    notes: tuple = ()


@attrs.frozen
class NotFound:
    """No record of that id (``periods`` empty), or none of that period: the periods of
    that id that there are, the ids seen (at most ``IDS_KEPT``, for hints), lines read."""

    periods: tuple
    ids: frozenset
    lines: int


IDS_KEPT = 100_000


def find_record(ev, records, record_id: str, period: str | None = None):
    """The record of ``records`` with ``str(id) == record_id`` and ``period`` (by default
    the latest period of that id; of several, the last in input order), as ``ev.run``
    reads it: a :class:`Found`, or a :class:`NotFound`.

    ``ev`` is an ``Evaluator``; the records are read and grouped by its own loops, so
    the record, its history and a rejection are the ones evaluation gives it. A record
    rejected before its id is known (not JSON, a repeated key) is matched by a lenient
    reading of its text, only to tell whose it is. Only that subject's records are kept.
    """
    shape = ev.shape
    mine: list = []  # (period text, Found)
    ids: set = set()
    rejected: dict = {}  # input line -> (rejection, record or None, period) of a record of this id
    count = [0]

    def prepare(item, n):
        count[0] = n
        got = ev.prepare(item, n)
        if isinstance(got, Rejection):
            decoded = decode_record(item, n, ev.limits)  # None when not even read as a record
            record = decoded if isinstance(decoded, dict) else None
            value = record if record is not None else loads_lenient(item)
            rid = value.get(shape.id) if value is not None else None
            per = value.get(shape.period) if value is not None else None
            if str(rid) == record_id:
                rejected[n] = (got, record, per if isinstance(per, str) else None)
        return got

    def judge(rec, hist, n, notes):
        rid = rec.get(shape.id)
        if str(rid) == record_id:
            per = rec.get(shape.period)
            mine.append((per if isinstance(per, str) else None, Found(rec, list(hist), None, n, tuple(notes))))
        elif len(ids) < IDS_KEPT:
            ids.add(str(rid))
        return None

    run = run_groups(ev, records, 1, True, None, prepare, judge) if ev.uses_history else \
        run_each(ev, records, 1, True, prepare, judge)
    for item in run:
        if isinstance(item, Rejection) and item.input_line in rejected:
            got, record, per = rejected.pop(item.input_line)
            mine.append((per, Found(record, [], got, item.input_line)))
    periods = sorted({p for p, _ in mine if p is not None})
    if period is None:
        period = periods[-1] if periods else None
    chosen = [f for p, f in mine if p == period]
    if not chosen:
        return NotFound(tuple(periods), frozenset(ids), count[0])
    return max(chosen, key=lambda f: f.input_line)
