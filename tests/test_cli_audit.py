"""The audit trail: ``eval --decision-log``, ``verify-log`` and ``evidence``."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from html.parser import HTMLParser

import pytest
from rulecite.interpreter import evaluate, load_pack
from rulecite.interpreter.tools.audit import LOG_FORMAT, canonical_json, decision_log, input_hash
from rulecite.interpreter.tools.evidence import evidence_packet

from tests.cli_support import LIBRARY, assert_bad_input, library_records, run, write_jsonl


@pytest.fixture
def facts(tmp_path):
    return write_jsonl(tmp_path / "facts.jsonl", library_records(), ["not json"])


@pytest.fixture
def logged(facts, tmp_path):
    log = tmp_path / "decisions.jsonl"
    r = run(["eval", LIBRARY, facts, "-q", "--decision-log", log, "--as-of", "2026-06-30"])
    assert r.exit_code == 0
    return log


def entries(log):
    """The decision entries of a log (its runs' headers and footers left out)."""
    return [e for e in (json.loads(x) for x in log.read_text().splitlines()) if e["type"] == "decision"]


def test_one_entry_per_record_in_input_order(logged, facts):
    es = entries(logged)
    n = len(facts.read_text().splitlines())
    assert len(es) == n
    assert [e["input_line"] for e in es] == list(range(1, n + 1))
    pack = load_pack(LIBRARY)
    for e in es:
        assert e["log"] == LOG_FORMAT
        assert e["pack"] == {"name": pack.name, "version": pack.version, "sha256": pack.lock}
        assert e["as_of"] == "2026-06-30"
        assert re.fullmatch(r"[0-9a-f]{64}", e["input_sha256"])
        assert e["rulecite"] and "logged_at" not in e  # the run's one wall-clock stamp is in its footer
    footer = json.loads(logged.read_text().splitlines()[-1])
    assert footer["type"] == "footer" and footer["logged_at"].endswith("Z")


def test_input_hash_is_of_the_canonical_record(logged):
    first = entries(logged)[0]
    rec = library_records()[0]
    assert first["input_sha256"] == hashlib.sha256(canonical_json(rec)).hexdigest()
    shuffled = dict(reversed(list(rec.items())))
    assert input_hash(shuffled) == first["input_sha256"]  # key order and spacing do not count


def test_entries_carry_verdicts_findings_and_history(logged):
    es = entries(logged)
    m2 = next(e for e in es if e["id"] == "M2" and e["period"] == "2025-12")
    assert m2["verdicts"] == [{"line": 1, "code": "BOOK", "verdict": "deny", "rules": ["loans.limit"]}]
    (f,) = m2["findings"]  # as decided: what the rule said, the values it read, its citations
    assert {k: f[k] for k in ("rule", "version", "severity", "line")} == \
        {"rule": "loans.limit", "version": 1, "severity": "deny", "line": 1}
    assert f["message"] == "11 items this month; the limit is 10"
    assert f["evidence"] == [{"expr": "total_units", "value": 11, "path": None}]
    assert [c["citation"] for c in f["citations"]] == ["Bylaws 2025"]
    m9 = [e for e in es if e["id"] == "M9"]
    assert m9[0]["history_sha256"] == [] and m9[1]["history_sha256"] == [m9[0]["input_sha256"]]
    bad = es[-1]
    assert bad["rejected"]["path"] == "$" and bad["input_form"] == "raw"
    assert bad["input_sha256"] == hashlib.sha256(b"not json").hexdigest()


def test_the_log_appends(logged, facts):
    before = len(entries(logged))
    run(["eval", LIBRARY, facts, "-q", "--decision-log", logged])
    assert len(entries(logged)) == 2 * before


def test_library_decision_log_matches_the_cli(facts):
    pack = load_pack(LIBRARY)
    items = list(open(facts, "rb"))
    results = list(evaluate(pack, items))
    es = list(decision_log(zip(results, items), pack, None, "x"))
    assert [e["result_sha256"] for e in es if "result_sha256" in e] == \
        [e["result_sha256"] for e in entries_from_cli(facts) if "result_sha256" in e]


def entries_from_cli(facts):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "l.jsonl"
        run(["eval", LIBRARY, facts, "-q", "--decision-log", log])
        return entries(log)


def test_verify_log_reproduces_every_decision(logged, facts):
    r = run(["verify-log", logged, LIBRARY, facts])
    assert r.exit_code == 0, r.output
    n = len(entries(logged))
    assert f"{n} decisions checked: {n} reproduced, 0 differ, 0 missing" in r.stdout


def test_verify_log_matches_by_hash_not_position(logged, facts, tmp_path):
    lines = facts.read_text().splitlines()
    shuffled = tmp_path / "shuffled.jsonl"
    # subjects moved around, each subject's months kept together
    shuffled.write_text("\n".join(lines[::-1][:1] + lines[:-1]) + "\n")
    r = run(["verify-log", logged, LIBRARY, shuffled])
    assert r.exit_code == 0, r.output


def test_verify_log_reports_a_changed_decision(logged, facts, tmp_path):
    changed = tmp_path / "library"
    shutil.copytree(LIBRARY, changed)
    rules = changed / "rules.policy"
    rules.write_text(rules.read_text().replace("deny when l.days > 14", "deny when l.days > 21"))
    r = run(["verify-log", logged, changed, facts])
    assert r.exit_code == 1
    assert "PACK log line 1: the run was logged with library-loans 2026.1.0" in r.stdout
    assert "DIFFERS M12 2026-04" in r.stdout
    assert "line 1: was deny by stream.days; now allow" in r.stdout
    assert "1 differ" in r.stdout
    doc = json.loads(run(["verify-log", logged, changed, facts, "--format", "json"]).stdout)
    assert doc["ok"] is False and [d["id"] for d in doc["differ"]] == ["M12"]


def test_verify_log_reports_missing_inputs(logged, facts, tmp_path):
    part = tmp_path / "part.jsonl"
    part.write_text("\n".join(facts.read_text().splitlines()[:3]) + "\n")
    r = run(["verify-log", logged, LIBRARY, part])
    assert r.exit_code == 1
    assert "MISSING" in r.stdout


def test_verify_log_unreadable_lines(tmp_path, facts):
    log = tmp_path / "junk.jsonl"
    log.write_text('not json\n{"log": "something else"}\n')
    r = run(["verify-log", log, LIBRARY, facts])
    assert r.exit_code == 1
    assert "BAD log line 1" in r.stdout and "BAD log line 2" in r.stdout


def test_verify_log_bad_facts(logged, tmp_path):
    assert_bad_input(run(["verify-log", logged, LIBRARY, tmp_path / "none.jsonl"]), "cannot read facts file")


# ---------------------------------------------------------------- evidence packets


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.attrs = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_evidence_packet_files(facts, tmp_path):
    out = tmp_path / "packet"
    r = run(["evidence", LIBRARY, facts, "--record", "M8", "--out", out])
    assert r.exit_code == 0, r.output
    html = (out / "M8-2025-07.html").read_text()
    md = (out / "M8-2025-07.md").read_text()
    pack = load_pack(LIBRARY)
    for text in (html, md):
        assert pack.lock in text
        assert "fines.block" in text and "member owes $50; loans are blocked at $50" in text
        assert "Bylaws 2025" in text and "https://library.example.org/bylaws/2025" in text
        assert "deny when member.fines &gt;= 50" in text or "deny when member.fines >= 50" in text
        assert "Facts the rules read" in text
        assert "member.fines" in text
        assert "2025-06" in text  # the history month it saw
    assert '<a href="https://library.example.org/bylaws/2025"' in html


def test_evidence_html_is_self_contained():
    pack = load_pack(LIBRARY)
    rec = library_records()[3]
    html = evidence_packet(pack, rec).html
    p = _Collect()
    p.feed(html)
    assert "script" not in p.tags and "img" not in p.tags and "link" not in p.tags and "iframe" not in p.tags
    srcs = [v for k, v in p.attrs if k == "src"]
    assert srcs == []
    assert "default-src 'none'" in html


HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def test_hostile_facts_are_escaped_everywhere(tmp_path):
    pack = load_pack(LIBRARY)
    rec = {"member_id": HOSTILE, "month": "2025-05", "member": {"age": 9},
           "loans": [{"line": 1, "item": HOSTILE}, {"line": 2, "item": "DVD", "date": "2025-05-03", "days": 3}]}
    packet = evidence_packet(pack, rec)
    p = _Collect()
    p.feed(packet.html)
    assert "script" not in p.tags and "img" not in p.tags
    assert not any(k.startswith("on") for k, _ in p.attrs)
    assert "<script>" not in packet.html and "<img" not in packet.html
    # Markdown: raw text only inside fenced code blocks, which renderers never read as HTML
    outside = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1$", "", packet.markdown)
    assert "<script>" not in outside and "<img" not in outside
    assert "&lt;script&gt;" in outside and "## Verdicts" in outside
    assert "&lt;script&gt;" in packet.html
    assert re.fullmatch(r"[A-Za-z0-9._-]+", packet.name)


def test_hostile_record_id_through_the_cli(tmp_path):
    rec = {"member_id": "../../" + HOSTILE, "month": "2025-05", "loans": [{"line": 1, "item": "BOOK"}]}
    f = write_jsonl(tmp_path / "f.jsonl", [rec])
    out = tmp_path / "out"
    r = run(["evidence", LIBRARY, f, "--record", rec["member_id"], "--out", out])
    assert r.exit_code == 0, r.output
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 2 and all("/" not in n and "<" not in n for n in written)
    assert not (tmp_path.parent / "script").exists()


def test_markdown_fences_cannot_be_broken_out_of():
    pack = load_pack(LIBRARY)
    rec = {"member_id": "```\n# injected", "month": "2025-05", "loans": [{"line": 1, "item": "BOOK"}]}
    md = evidence_packet(pack, rec).markdown
    assert "\n# injected" not in md.split("## Input record")[0]
    body = md.split("## Input record")[1]
    fence = body.strip().splitlines()[0]
    assert fence.startswith("````")


def test_evidence_for_a_rejected_record(facts, tmp_path):
    r = run(["evidence", LIBRARY, facts, "--record", "M11", "--out", tmp_path / "o"])
    assert r.exit_code == 0
    html = (tmp_path / "o" / "M11-2024-12.html").read_text()
    assert "Rejected" in html and "outside the service dates" in html


def test_evidence_out_is_a_file(facts, tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    assert_bad_input(run(["evidence", LIBRARY, facts, "--record", "M8", "--out", f]))
