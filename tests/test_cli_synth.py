"""``rulecite synth``: deterministic synthetic records made from a pack's tests."""

from __future__ import annotations

import json

from rulecite.interpreter import evaluate, load_pack
from rulecite.interpreter.tools.synth import synthesize

from tests.cli_support import BRANCH, LIBRARY, run


def test_n_records_deterministic_for_a_seed():
    a = run(["synth", LIBRARY, "200", "--seed", "7"])
    assert a.exit_code == 0
    lines = a.stdout.splitlines()
    assert len(lines) == 200
    assert a.stdout == run(["synth", LIBRARY, "200", "--seed", "7"]).stdout
    assert a.stdout != run(["synth", LIBRARY, "200", "--seed", "8"]).stdout


def test_records_are_valid_mix_clean_and_faulty_and_have_fresh_ids():
    pack = load_pack(LIBRARY)
    recs = list(synthesize(pack, 400, seed=1))
    results = list(evaluate(pack, recs))
    assert not [r for r in results if r.kind == "rejection"]
    verdicts = {v.verdict for r in results for v in r.lines}
    assert verdicts == {"allow", "deny"}
    assert all(r["member_id"].startswith("SYN") for r in recs)
    cov = pack.model.coverage
    assert all(cov.start.isoformat()[:7] <= r["month"] <= cov.end.isoformat()[:7] for r in recs)


def test_subjects_keep_their_months_in_order():
    recs = list(synthesize(load_pack(LIBRARY), 300, seed=2))
    by_id = {}
    for r in recs:
        by_id.setdefault(r["member_id"], []).append(r["month"])
    assert all(months == sorted(months) for months in by_id.values())
    assert any(len(m) > 1 for m in by_id.values())  # history templates survive


def test_zero_and_the_extending_pack():
    assert run(["synth", LIBRARY, "0"]).stdout == ""
    r = run(["synth", BRANCH, "5", "--seed", "1"])
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 5
    for line in r.stdout.splitlines():
        json.loads(line)


def test_pack_without_tests_is_bad_input(library_copy):
    import shutil

    shutil.rmtree(library_copy / "tests")
    r = run(["synth", library_copy, "3"])
    assert r.exit_code == 2 and "no tests" in r.output
