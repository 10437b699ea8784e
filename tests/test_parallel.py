"""Parallel and Dask evaluation give byte-for-byte what one process gives, in input order."""

import json
import random
from pathlib import Path

import pytest

from rulecite.interpreter import evaluate, load_pack
from rulecite.interpreter.engine import parallel

PACK = Path(__file__).resolve().parent.parent / "benchmarks" / "anchor-pack"
CODES = ["G0556", "G0557", "G0558", "G0568", "G0569", "G0570", "99490", "99439", "99491", "99484", "G0511"]


def _record(rng, pid, month):
    npi = rng.choice(["1467503219", "1902837461"])
    claims = [{"line": i + 1, "code": rng.choice(CODES), "npi": npi, "date": f"{month}-{rng.randint(1, 28):02d}",
               "units": rng.choice([1, 2, 3])} for i in range(rng.randint(1, 3))]
    rec = {"patient_id": pid, "month": month, "claims": claims,
           "patient": {"qmb": rng.random() < 0.5},
           "consents": [{"program": rng.choice(["APCM", "CCM", "BHI"]), "date": f"{month}-01"}],
           "time": [{"program": "CCM", "role": "clinical_staff", "minutes": rng.choice([10, 20, 45])}]}
    return json.dumps(rec, separators=(",", ":"))


def _lines(n=400, seed=3):
    """Subjects with one to four months each (history), a subject that comes back later
    (a note), lines that are not JSON, and a record outside the pack's coverage."""
    rng = random.Random(seed)
    out = []
    p = 0
    while len(out) < n:
        p += 1
        for m in range(rng.randint(1, 4)):
            out.append(_record(rng, f"P{p:04d}", f"2026-{m + 1:02d}"))
    out[17] = "not json"
    out[40] = out[40].replace('"month":"2026', '"month":"2031')
    out.insert(200, _record(rng, "P0003", "2026-09"))
    return [(x + "\n").encode() for x in out]


@pytest.fixture(scope="module")
def lines():
    return _lines()


@pytest.fixture(scope="module")
def expected(lines):
    return [r.to_json() for r in evaluate(load_pack(PACK), lines)]


@pytest.fixture
def small_chunks(monkeypatch):
    # Chunks of a few lines, so that cuts fall inside subjects' groups and get repaired.
    monkeypatch.setattr(parallel, "CHUNK_LINES", 7)
    monkeypatch.setattr(parallel, "MAX_CHUNK_LINES", 9)


def test_the_input_exercises_history_notes_and_rejections(lines, expected):
    assert any('"notes"' in x for x in expected)
    assert any('"rejected":true' in x for x in expected)
    assert len(expected) == len(lines)


def test_two_jobs_give_the_single_process_bytes(lines, expected, small_chunks):
    got = [r.to_json() for r in parallel.evaluate_parallel(PACK, iter(lines), jobs=2)]
    assert got == expected


def test_parallel_results_are_equal_objects(lines, small_chunks):
    pack = load_pack(PACK)
    one = list(evaluate(pack, lines[:60]))
    two = list(parallel.evaluate_parallel(PACK, iter(lines[:60]), jobs=2))
    assert one == two
    assert [r.input_line for r in two] == list(range(1, 61))


def test_dask_on_two_local_workers_gives_the_single_process_bytes(lines, expected, small_chunks, tmp_path):
    pytest.importorskip("distributed")
    path = tmp_path / "facts.jsonl"
    path.write_bytes(b"".join(lines))
    got = [r.to_json() for r in parallel.evaluate_dask(PACK, str(path), n_workers=2)]
    assert got == expected


def test_a_worker_refuses_a_pack_that_changed(tmp_path):
    with pytest.raises(parallel.PackChanged):
        parallel.evaluate_chunk(str(PACK), "0" * 64, None, 1, [])


def test_the_spark_example_is_valid_python():
    source = (PACK.parent.parent / "examples" / "spark_example.py").read_text()
    compile(source, "spark_example.py", "exec")


def test_capped_groups_and_rejections_merge_as_one_run_gives_them(monkeypatch):
    """Groups cut at the cap (--max-group), junk inside and after them, chunk cuts anywhere:
    the merged output is byte for byte the single run's, and the merger holds no more than
    a group and a chunk of one endless subject."""
    import json as _json

    from rulecite.interpreter import Limits, evaluate, load_pack
    from rulecite.interpreter.engine import parallel as par

    from tests.conftest import LIBRARY as LIB
    from tests.conftest import grouped_lines_with_junk

    monkeypatch.setattr(par, "CHUNK_LINES", 5)
    monkeypatch.setattr(par, "MAX_CHUNK_LINES", 11)
    lim = Limits(max_group=7)
    pack = load_pack(LIB)

    class Done:
        def __init__(self, v):
            self.v = v

        def result(self):
            return self.v

    def submit(start, chunk):
        return Done(par.evaluate_chunk(str(LIB), pack.lock, None, start, chunk, lim))

    for seed in range(6):
        lines = grouped_lines_with_junk(seed, ("M1", "M2", "M3"))
        one = [o.to_json() for o in evaluate(pack, lines, limits=lim)]
        ev = par.Evaluator(pack.compiled(None), lim)
        chunks = par._chunks(iter(lines), par.ranges.IdReader("member_id"))
        two = [o.to_json() for o in par._ordered(submit, ev, chunks, 4)]
        assert one == two, seed
        assert any("history sees only this group's" in x for x in one)

    line = _json.dumps({"member_id": "M1", "month": "2025-03", "loans": [{"line": 1, "item": "BOOK"}]}).encode()
    ev = par.Evaluator(pack.compiled(None), lim)
    merger = par._Merger(ev)
    biggest = 0
    for start, chunk in par._chunks(iter([line] * 2000), par.ranges.IdReader("member_id")):
        merger.add(start, chunk, par.from_chunk(ev, submit(start, chunk).result()))
        biggest = max(biggest, sum(len(ls) for _, ls, _ in merger.pending))
    assert biggest <= 7 + 11 + 11
