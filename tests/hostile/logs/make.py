"""Writes the malformed decision logs of this folder and expected.json (what verify-log says).

Each log is a real run of the library pack over its test records (chained, format 2)
with one line damaged, then re-chained so that only the damage is wrong; a few are
format 1 lines. Run from the repository root: ``.venv/bin/python -m tests.hostile.logs.make``.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from tests.cli_support import LIBRARY, library_records, run, write_jsonl

HERE = Path(__file__).parent


def _chain(objs):
    out, prev = [], None
    for o in objs:
        if isinstance(o, tuple):  # written as it is, its own prev included
            line = json.dumps(o[0], ensure_ascii=False).encode()
        elif isinstance(o, dict) and o.get("log") == "rulecite-decision/2":
            o = dict(o, prev=prev)
            line = json.dumps(o, ensure_ascii=False).encode()
        else:
            line = o if isinstance(o, bytes) else json.dumps(o).encode()
        prev = hashlib.sha256(line).hexdigest()
        out.append(line)
    return b"".join(x + b"\n" for x in out)


def main():
    with tempfile.TemporaryDirectory() as d:
        facts = write_jsonl(Path(d) / "f.jsonl", library_records(), ["not json"])
        log = Path(d) / "l.jsonl"
        assert run(["eval", LIBRARY, facts, "-q", "--decision-log", log, "--as-of", "2026-06-30"]).exit_code == 0
        objs = [json.loads(x) for x in log.read_bytes().splitlines()]
    v1 = {k: v for k, v in objs[2].items() if k not in ("type", "prev")}
    v1["log"] = "rulecite-decision/1"
    cases = {
        # name: (line number, new line (dict, or bytes as written), what verify-log says)
        "as-of-number": (3, dict(objs[2], as_of=7), "as_of must be null or a date (YYYY-MM-DD), not 7"),
        "as-of-not-a-date": (3, dict(objs[2], as_of="2026-13-45"), "as_of must be null or a date"),
        "as-of-object": (3, dict(objs[2], as_of={"$date": 1}), "as_of must be null or a date"),
        "history-not-a-list": (3, dict(objs[2], history_sha256="abc"), "history_sha256 must be a list of sha256s"),
        "history-of-objects": (3, dict(objs[2], history_sha256=[{"a": 1}]), "history_sha256 must be a list"),
        "findings-not-a-list": (3, dict(objs[2], findings=7), "findings must be a list of objects with a rule id"),
        "findings-of-strings": (3, dict(objs[2], findings=["loans.limit"]), "findings must be a list of objects"),
        "verdicts-not-a-list": (3, dict(objs[2], verdicts={"line": 1}), "verdicts must be a list of objects"),
        "rejected-not-an-object": (3, dict(objs[2], rejected="yes"), "rejected must be an object"),
        "input-sha-number": (3, dict(objs[2], input_sha256=12), "input_sha256 must be a sha256"),
        "input-line-text": (3, dict(objs[2], input_line="2"), "input_line must be a whole number from 1"),
        "input-line-true": (3, dict(objs[2], input_line=True), "input_line must be a whole number from 1"),
        "input-line-huge-float": (3, dict(objs[2], input_line=1e308), "input_line must be a whole number"),
        "pack-not-an-object": (3, dict(objs[2], pack="library-loans"), "pack must be an object"),
        "result-sha-missing": (3, {k: v for k, v in objs[2].items() if k != "result_sha256"},
                               "result_sha256 must be a sha256"),
        "prev-number": (3, (dict(objs[2], prev=5),), "prev must be a sha256"),
        "type-unknown": (3, dict(objs[2], type="trailer"), "type must be header, decision or footer"),
        "header-options-text": (1, dict(objs[0], options={"max_depth": "deep"}),
                                "options must be an object of whole numbers"),
        "header-pack-missing": (1, {k: v for k, v in objs[0].items() if k != "pack"}, "pack must be an object"),
        "footer-count-text": (len(objs), dict(objs[-1], entries="20"), "entries must be a whole number"),
        "footer-complete-text": (len(objs), dict(objs[-1], complete="yes"), "complete must be true or false"),
        "not-an-object": (3, b"[1, 2, 3]", "not a decision-log line"),
        "not-json": (3, b'{"log": "rulecite-decision/2", "type": ', "not JSON"),
        "nested-too-deeply": (3, b"[" * 5_000 + b"]" * 5_000, "not JSON (nested too deeply)"),
        "invalid-utf8": (3, b'{"log": "rulecite-decision/2", "id": "\xff\xfe"}', "not JSON"),
        "format-1-history-number": (3, dict(v1, history_sha256=5), "history_sha256 must be a list of sha256s"),
        "format-1-findings-object": (3, dict(v1, findings={"rule": "x"}), "findings must be a list"),
        "format-1-as-of-list": (3, dict(v1, as_of=["2026-06-30"]), "as_of must be null or a date"),
    }
    expected = {}
    for name, (n, line, said) in cases.items():
        lines = list(objs)
        lines[n - 1] = line
        (HERE / f"{name}.jsonl").write_bytes(_chain(lines))
        expected[f"{name}.jsonl"] = f"BAD log line {n}: {said}"
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
