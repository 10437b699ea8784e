"""Fuzz evaluation: records (JSON Lines, text, dicts) through two packs.

Run it with ``tests/fuzz/run_fuzz.py --target evaluate`` (or directly, with libFuzzer
flags: ``python tests/fuzz/fuzz_evaluate.py CORPUS_DIR -max_total_time=60``).

One input is a chunk of JSON Lines. :func:`check_evaluate_input` is the whole check;
``tests/test_fuzz_regressions.py`` replays saved inputs through it, so this module
imports atheris only when it is available (never required to import the module).

Each input is used twice, for the library test pack (``tests/packs/library``) and the
bundled ``cms-care-management`` pack:

1. as raw lines (bytes split after each newline, what the CLI reads);
2. as structured records: a data provider (atheris's ``FuzzedDataProvider`` when
   atheris is installed) reading the same bytes picks a template record of the pack
   and changes values at random paths to edge-case values (huge and negative numbers,
   floats, impossible dates, unknown codes, lone surrogates, deep containers), and
   picks the form (dicts, JSON text, JSON bytes), ``as_of`` and the limits. A failure
   there prints the records as JSON: saved as ``crashes/evaluate/NAME.records.json``,
   the regression tests replay them whichever provider made them.

What counts as a finding (an exception escaping ``check_evaluate_input``):

- ``evaluate`` raising, or not giving exactly one Result or Rejection per input item,
  in input order, each serializing to JSON that encodes as UTF-8;
- evaluate changing a dict the caller passed in;
- the fast path (orjson and the compiled schema scan) giving other output than the
  full path (``jsonschema``) for the same items;
- a line given as bytes, as text, or (when it was evaluated) as the dict it decodes to,
  giving other output;
- ``explain`` raising on a dict, its output not serializing as the CLI serializes it, or
  its verdicts (or rejection) differing from ``evaluate`` of the same record alone.
"""

from __future__ import annotations

import copy
import io
import json
import sys
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LIBRARY = ROOT / "tests" / "packs" / "library"
PACKS = (str(LIBRARY), "cms-care-management")
MAX_INPUT = 64 * 1024
MAX_LINES = 64
MAX_EXPLAIN = 1  # explain is the slow part: this many dict records per pack, path and input
AS_OF = (None, "2025-01-01", "2025-11-30", "2026-01-01", "2026-12-31")


class Finding(AssertionError):
    """A broken guarantee (as opposed to an exception escaping the code under test)."""


# ---------------------------------------------------------------- the packs and their records

@lru_cache(maxsize=1)
def packs() -> tuple:
    from rulecite.interpreter import load_pack

    return tuple(load_pack(p) for p in PACKS)


def _keys(value, out: set) -> set:
    if isinstance(value, dict):
        for k, v in value.items():
            out.add(k)
            _keys(v, out)
    elif isinstance(value, list):
        for v in value:
            _keys(v, out)
    return out


@lru_cache(maxsize=None)
def templates(pack_index: int) -> tuple:
    """Valid records of a pack (its own test facts, and the examples for the CMS pack),
    the object keys they and the schema use, and the pack's codes."""
    pack = packs()[pack_index]
    records = [dict(r) for t in pack.model.tests for r in t.records]
    if pack.name == "cms-care-management":
        with open(ROOT / "examples" / "patient-months.jsonl", encoding="utf-8") as f:
            records += [json.loads(ln) for ln in f if ln.strip()][:20]
    records = records[:60]
    keys = sorted(_keys(records, set()) | _keys(pack.model.schema, set()))
    codes = sorted(c.name for c in pack.model.codes) + ["NOPE", "99490x", ""]
    return tuple(records), tuple(keys), tuple(codes)


# ---------------------------------------------------------------- a data provider

try:  # atheris's provider when it is installed; the fallback keeps the module importable
    from atheris import FuzzedDataProvider as _FDP
except ImportError:  # pragma: no cover - depends on the environment
    _FDP = None


class _Provider:
    """The few ``FuzzedDataProvider`` methods used here, in plain Python (for replays
    where atheris is not installed; the values differ from atheris's)."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def remaining_bytes(self) -> int:
        return len(self.data) - self.pos

    def ConsumeIntInRange(self, lo: int, hi: int) -> int:  # noqa: N802 - atheris's name
        span = hi - lo
        v = 0
        while span > 0:
            v = (v << 8) | self._byte()
            span >>= 8
        return lo + v % (hi - lo + 1)

    def ConsumeBool(self) -> bool:  # noqa: N802
        return bool(self._byte() & 1)

    def ConsumeFloat(self) -> float:  # noqa: N802
        import struct

        raw = bytes(self._byte() for _ in range(8))
        return struct.unpack("<d", raw)[0]

    def ConsumeUnicode(self, n: int) -> str:  # noqa: N802
        k = self.ConsumeIntInRange(0, n)
        return "".join(chr(self._byte() | (self._byte() << 8)) for _ in range(k))



def provider(data: bytes):
    return _FDP(data) if _FDP is not None else _Provider(data)


def _pick(p, values):
    return values[p.ConsumeIntInRange(0, len(values) - 1)]


_STRINGS = ("", " ", "2025-03-01", "2025-02-29", "2024-02-29", "2025-13-01", "2025-12-31", "2026-01-01",
            "2026-12-31", "2027-01-01", "0000-00-00", "9999-99-99", "2025-1-1", "2025-03", "2026-12", "2025-00",
            "2025-03-01T00:00:00", "\x00", "\ud800", "\udfff\ud800", "é", "\u202e", "\U0001F600", "{x}", "{{", "%s",
            "null", "true", "-1", "1e400", "__class__", "M1", "x" * 300)
_NUMBERS = (0, 1, -1, 2, 3, 7, 10, 13, 20, 31, 60, 2 ** 31, 2 ** 53 + 1, 2 ** 63, -(2 ** 63) - 1, 2 ** 64, 10 ** 30,
            10 ** 400, 0.5, -0.0, 1.0, 2.5, 1e16, 1e308, -1e308, 5e-324, float("nan"), float("inf"), True, False)


def _leaf(p, pool):
    """An edge-case JSON-ish value (some not JSON at all, as a careless caller passes them)."""
    _, keys, codes = pool
    k = p.ConsumeIntInRange(0, 11)
    if k <= 2:
        return _pick(p, _NUMBERS)
    if k == 3:
        return p.ConsumeIntInRange(-1000, 1000)
    if k == 4:
        return p.ConsumeFloat()
    if k <= 6:
        return _pick(p, _STRINGS)
    if k == 7:
        return _pick(p, codes)
    if k == 8:
        return p.ConsumeUnicode(12)
    if k == 9:
        return None
    if k == 10:
        return [] if p.ConsumeBool() else {}
    depth = p.ConsumeIntInRange(1, 40)
    inner = _pick(p, _NUMBERS[:6])
    for _ in range(depth):
        inner = [inner] if p.ConsumeBool() else {_pick(p, keys): inner}
    return inner


def _mutate(value, p, pool, depth: int = 0):
    """``value`` with one change somewhere below it (returns the new value)."""
    _, keys, _ = pool
    k = p.ConsumeIntInRange(0, 9)
    if depth < 12 and isinstance(value, dict) and value and k < 7:
        key = _pick(p, list(value))
        action = p.ConsumeIntInRange(0, 3)
        if action == 0:
            del value[key]
        elif action == 1:
            value[key] = _leaf(p, pool)
        else:
            value[key] = _mutate(value[key], p, pool, depth + 1)
        return value
    if depth < 12 and isinstance(value, list) and value and k < 7:
        i = p.ConsumeIntInRange(0, len(value) - 1)
        action = p.ConsumeIntInRange(0, 3)
        if action == 0:
            del value[i]
        elif action == 1:
            value.append(copy.deepcopy(value[i]))
        else:
            value[i] = _mutate(value[i], p, pool, depth + 1)
        return value
    if isinstance(value, dict) and k < 9:
        value[_pick(p, keys) if p.ConsumeBool() else p.ConsumeUnicode(6)] = _leaf(p, pool)
        return value
    return _leaf(p, pool)


def structured(data: bytes, pack_index: int) -> dict:
    """A spec of records made from ``data`` by a data provider: the pack, the records,
    the form they are given in (dicts, JSON text or JSON bytes), ``as_of`` and limits.
    Plain JSON (as Python writes it: NaN, lone surrogates) so that a failing spec can
    be saved as a regression case (see :func:`check_records`)."""
    pool = templates(pack_index)
    records = pool[0]
    p = provider(data)
    n = p.ConsumeIntInRange(1, 4)
    out = []
    for _ in range(n):
        rec = copy.deepcopy(_pick(p, records))
        for _ in range(p.ConsumeIntInRange(0, 6)):
            rec = _mutate(rec, p, pool)
        out.append(rec)
    as_of = _pick(p, AS_OF)
    limits = _pick(p, [None, None, {"max_depth": 3}, {"max_record_bytes": 300}])
    form = _pick(p, ["dicts", "dicts", "text", "ascii text", "bytes"])
    return {"pack": packs()[pack_index].name, "form": form, "as_of": as_of, "limits": limits, "records": out}


def _materialize(spec: dict) -> list:
    form = spec["form"]
    if form == "dicts":
        return copy.deepcopy(spec["records"])
    texts = [json.dumps(r, ensure_ascii=(form == "ascii text")) for r in spec["records"]]
    if form == "bytes":
        return [t.encode("utf-8", "surrogatepass") for t in texts]
    return texts


# ---------------------------------------------------------------- the checks

def _well_formed(out, n: int) -> str:
    from rulecite.interpreter import Rejection, Result

    if not isinstance(out, (Result, Rejection)):
        raise Finding(f"output {n} is a {type(out).__name__}")
    if out.input_line != n:
        raise Finding(f"output {n} says input line {out.input_line}")
    text = out.to_json()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise Finding(f"output {n} is not UTF-8 text (half a surrogate pair?): {e}") from None
    again = json.loads(text)
    if again["input_line"] != n:
        raise Finding(f"output {n} serializes input line {again['input_line']}")
    if isinstance(out, Rejection) and not (out.path.startswith("$") and out.reason):
        raise Finding(f"rejection {n} has no path or reason: {text[:300]}")
    return text


def check_stream(pack, items: list, as_of=None, limits=None) -> list:
    """Evaluate ``items`` once on each path; returns each output's JSON text."""
    from rulecite.interpreter import Limits, evaluate
    from rulecite.interpreter.api import as_date
    from rulecite.interpreter.engine.evaluator import Evaluator

    limits = limits or Limits()
    before = [repr(x) for x in items]
    out = list(evaluate(pack, items, as_of=as_of, limits=limits))
    if len(out) != len(items):
        raise Finding(f"{pack.name}: {len(out)} outputs for {len(items)} records")
    texts = [_well_formed(o, n) for n, o in enumerate(out, start=1)]
    if [repr(x) for x in items] != before:
        raise Finding(f"{pack.name}: evaluate changed the records it was given")
    # The full path alone (no orjson, no compiled schema scan) must say the same.
    ev = Evaluator(pack.compiled(as_date(as_of)), limits)
    ev.scan = None
    slow = [o.to_json() for o in ev.run(items)]
    if slow != texts:
        i = next(i for i, (a, b) in enumerate(zip(slow, texts)) if a != b) if len(slow) == len(texts) else 0
        raise Finding(f"{pack.name}: the fast path and the full path differ on item {i + 1}:\n"
                      f"fast: {texts[i][:600] if i < len(texts) else None}\nfull: {slow[i][:600] if i < len(slow) else None}")
    return texts


def check_explain(pack, record, as_of=None) -> None:
    """``explain`` of one dict: serializes as the CLI does, and agrees with ``evaluate``."""
    from rulecite.interpreter import Result, evaluate, explain

    trace = explain(pack, copy.deepcopy(record), as_of=as_of)
    if not isinstance(trace, dict):
        raise Finding(f"explain gave a {type(trace).__name__}")
    json.dumps(trace, ensure_ascii=False, default=str)
    (alone,) = evaluate(pack, [copy.deepcopy(record)], as_of=as_of)
    if isinstance(alone, Result):
        if "rejected" in trace:
            raise Finding(f"{pack.name}: explain rejects a record evaluate judged: {trace['rejected']}")
        if trace["lines"] != alone.to_dict()["lines"]:
            raise Finding(f"{pack.name}: explain and evaluate give other verdicts:\n"
                          f"explain: {trace['lines']}\nevaluate: {alone.to_dict()['lines']}")
    elif trace.get("rejected") != alone.to_dict():
        raise Finding(f"{pack.name}: explain and evaluate reject differently:\n"
                      f"explain: {trace.get('rejected')}\nevaluate: {alone.to_dict()}")


def _decoded(raw: bytes):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def check_lines(pack, lines: list) -> None:
    """Raw lines as bytes, as text and (when evaluated) as dicts: same output."""
    texts = check_stream(pack, lines)
    as_text = [t if t is not None else raw for raw, t in zip(lines, map(_decoded, lines))]
    if check_stream(pack, as_text) != texts:
        raise Finding(f"{pack.name}: the same lines as bytes and as text give other output")
    as_dicts, dicts = list(as_text), []
    for i, (item, out) in enumerate(zip(as_text, texts)):
        if not isinstance(item, str) or '"rejected":true' in out:
            continue
        try:
            value = json.loads(item.lstrip("\ufeff"))
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            as_dicts[i] = value
            dicts.append(value)
    if dicts:
        again = check_stream(pack, as_dicts)
        if again != texts:
            i = next(i for i, (a, b) in enumerate(zip(again, texts)) if a != b)
            raise Finding(f"{pack.name}: line {i + 1} as the dict it decodes to gives other output:\n"
                          f"text: {texts[i][:600]}\ndict: {again[i][:600]}")
    for value in dicts[:MAX_EXPLAIN]:
        check_explain(pack, value)


def check_records(spec: dict) -> None:
    """The structured half of the check, for one spec from :func:`structured` (or a
    regression file ``tests/fuzz/crashes/evaluate/*.records.json`` holding one)."""
    from rulecite.interpreter import Limits

    try:
        (pack,) = [p for p in packs() if p.name == spec["pack"]]
        items = _materialize(spec)
        limits = Limits(**spec["limits"]) if spec.get("limits") else None
        check_stream(pack, items, spec.get("as_of"), limits)
        for item in items[:MAX_EXPLAIN]:
            if isinstance(item, dict):
                check_explain(pack, item, spec.get("as_of"))
    except BaseException as e:
        # Printed too: atheris's report of an uncaught exception leaves notes out.
        note = "records (save as tests/fuzz/crashes/evaluate/NAME.records.json to replay): " + json.dumps(spec)
        print(note, file=sys.stderr, flush=True)
        e.add_note(note)
        raise


def check_evaluate_input(data: bytes) -> None:
    """The harness's check of one fuzz input (shared with the regression tests)."""
    data = data[:MAX_INPUT]
    lines = io.BytesIO(data).readlines()[:MAX_LINES]
    for i, pack in enumerate(packs()):
        check_lines(pack, lines)
        check_records(structured(data, i))


def main(argv=None) -> None:
    import atheris

    with atheris.instrument_imports(include=["rulecite"]):
        import rulecite.interpreter  # noqa: F401
        import rulecite.policy_lang  # noqa: F401
    for i in range(len(packs())):  # warm: load and compile both packs once
        templates(i)

    atheris.Setup(list(argv if argv is not None else sys.argv), check_evaluate_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
