"""Evidence an auditor accepts: per-line blocks for an appeal letter, citations in the one
formatter's words, the record's fields (JSON paths and values) as the facts read, a print
stylesheet, and ``--all`` / ``--denied`` writing a packet per record and an index."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from rulecite.interpreter import load_pack
from rulecite.interpreter.reports.citations import citation_html, citation_markdown
from rulecite.interpreter.tools.evidence import evidence_packet, reader_citation
from rulecite.interpreter.tools.facts_read import fields_read

from tests.browser_support import dump_dom, print_pdf
from tests.cli_support import LIBRARY, assert_bad_input, library_records, run, write_jsonl

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
M2 = {"member_id": "M2", "month": "2025-12", "loans": [{"line": 1, "item": "BOOK", "units": 11, "date": "2025-12-31"}]}


@pytest.fixture(scope="module")
def pack():
    return load_pack(LIBRARY)


def _section(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def test_facts_read_are_the_records_paths_not_expressions_or_lets(pack):
    md = evidence_packet(pack, M2).markdown
    read = _section(md, "## Facts the rules read", "## Input record")
    assert "$.loans\\[0\\].units | 11 |" in read and '$.loans\\[0\\].item | "BOOK" |' in read
    assert "$.member.fines | absent" in read  # read, and not in the record: said so
    assert "total\\_units" not in read and "l.item" not in read  # no let name, no expression


def test_where_in_the_record_is_filled_for_a_let(pack):
    packet = evidence_packet(pack, M2)
    row = [ln for ln in packet.markdown.splitlines() if ln.startswith("| total\\_units |")]
    assert row == ["| total\\_units | 11 | $.loans\\[0\\].units = 11 |"]
    assert "<td><code>$.loans[0].units = 11</code></td>" in packet.html


def test_an_aggregate_lists_every_item_it_read(pack):
    rec = {**M2, "loans": [{"line": 1, "item": "BOOK", "units": 6, "date": "2025-12-30"},
                           {"line": 2, "item": "DVD", "units": 5, "date": "2025-12-31", "days": 3}]}
    rule = pack.model.rule_versions("loans.limit")[0]
    read = dict(fields_read(pack.model, rule, rec, 1))
    assert read["$.loans[0].units"] == 6 and read["$.loans[1].units"] == 5
    assert read["$.loans[1].item"] == "DVD" and "$.loans[0].item" not in read  # the line judged, not the others


def test_the_per_line_block_has_what_an_appeal_letter_quotes(pack):
    md = evidence_packet(pack, M2).markdown
    block = _section(md, "### Line 1: BOOK — deny", "## Findings")
    for text in ("- Line: 1", "- Code: BOOK", "- Date of service: 2025-12-31", "- Verdict: **deny**",
                 "> 11 items this month; the limit is 10", "Bylaws 2025", "section “2\\. Limits”, page unverified",
                 "$.loans\\[0\\].units = 11", "- Where in the record: $.loans\\[0\\]"):
        assert text in block, text


def test_citations_are_written_by_the_formatter_never_as_source_ids(pack):
    packet = evidence_packet(pack, M2)
    c = dict(pack.model.rule_versions("loans.limit")[0].citations[0].to_dict())
    assert citation_html(reader_citation(c)) in packet.html
    assert citation_markdown(reader_citation(c)) in packet.markdown
    for text in (packet.html.split("<h2>Input record")[0], packet.markdown.split("## Input record")[0]):
        outside_rule_text = re.sub(r"(?s)<pre>.*?</pre>|```\n.*?\n```", "", text)
        assert "BYLAWS2025" not in outside_rule_text
    memo = {"source": "BOARD_MEMO", "title": "Board memo on streaming", "page": "unverified",
            "url": "https://library.example.org/memos/streaming"}
    shown = citation_html(reader_citation(memo))
    assert "BOARD_MEMO" not in shown and "Board memo on streaming" in shown and "page unverified" in shown


def test_print_stylesheet(pack):
    html = evidence_packet(pack, M2).html
    css = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "@media print" in css and "@page" in css
    assert re.search(r"@media print\{.*\.line-block[^{]*\{[^}]*break-inside:avoid", css, re.S)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_hostile_values_in_the_fields_read_are_escaped(pack):
    rec = {"member_id": "M9", "month": "2025-05", "member": {"age": 9, "fines": HOSTILE},
           "loans": [{"line": 1, "item": "DVD", "date": "2025-05-03", "days": 3, "units": HOSTILE}]}
    packet = evidence_packet(pack, rec)
    p = _Tags()
    p.feed(packet.html)
    assert "script" not in p.tags and "img" not in p.tags
    assert not any(k.startswith("on") for k, _ in p.attrs)
    assert "&lt;script&gt;" in packet.html
    outside = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1$", "", packet.markdown)
    assert "<script>" not in outside and "<img" not in outside


def test_hostile_line_id_in_the_block_anchor(pack):
    rec = {"member_id": "M9", "month": "2025-05", "loans": [{"line": HOSTILE, "item": "BOOK", "units": 1}]}
    html = evidence_packet(pack, rec).html
    p = _Tags()
    p.feed(html)
    assert "script" not in p.tags and "img" not in p.tags
    assert not any(k.startswith("on") for k, _ in p.attrs)


# ---------------------------------------------------------------- --all and --denied


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("packets") / "facts.jsonl", library_records(), ["not json"])


def test_all_writes_a_packet_per_record_and_an_index(facts, tmp_path):
    r = run(["evidence", LIBRARY, facts, "--all", "--out", tmp_path])
    assert r.exit_code == 0, r.output
    records = library_records()
    html = sorted(p.name for p in tmp_path.glob("*.html") if p.name != "index.html")
    assert len(html) == len(records) - sum(1 for x in records if x["month"] < "2025-01")  # rejected: no packet
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    for name in html:
        assert f'href="{name}"' in index
    assert re.search(r"<td>M11</td><td>2024-12</td><td class=\"deny\">rejected</td><td>[^<]*outside the service", index)
    assert re.search(r"<td>\(input line \d+\)</td><td></td><td class=\"deny\">rejected</td><td>not JSON", index)
    assert (tmp_path / "index.md").is_file()
    assert len(set(html)) == len(html)  # repeated ids and periods get their own file


def test_denied_writes_only_the_records_with_a_denied_line(facts, tmp_path):
    r = run(["evidence", LIBRARY, facts, "--denied", "--out", tmp_path])
    assert r.exit_code == 0, r.output
    pages = [p for p in tmp_path.glob("*.html") if p.name != "index.html"]
    assert pages
    for p in pages:
        assert '<td class="deny">deny</td>' in p.read_text(encoding="utf-8"), p.name
    everything = run(["evidence", LIBRARY, facts, "--all", "--out", tmp_path / "all"])
    assert everything.exit_code == 0
    assert len(pages) < len(list((tmp_path / "all").glob("*.html"))) - 1


def test_one_record_or_all_never_both(facts, tmp_path):
    assert_bad_input(run(["evidence", LIBRARY, facts, "--all", "--record", "M8", "--out", tmp_path]), "--record")
    assert_bad_input(run(["evidence", LIBRARY, facts, "--out", tmp_path]), "--all")


def test_all_into_a_file_is_bad_input(facts, tmp_path):
    f = tmp_path / "file"
    f.write_text("", encoding="utf-8")
    assert_bad_input(run(["evidence", LIBRARY, facts, "--all", "--out", f]), "is a file")


@pytest.mark.browser
def test_packet_line_block_in_headless_chromium(pack, tmp_path):
    page = tmp_path / "packet.html"
    page.write_text(evidence_packet(pack, M2).html, encoding="utf-8")
    dom = dump_dom(page.as_uri(), tmp_path / "profile")
    block = re.search(r'<section class="line-block v-deny" id="line-1">(.*?)</section>', dom, re.S)
    assert block, "the line block did not render"
    text = block.group(1)
    assert "11 items this month; the limit is 10" in text and "Bylaws 2025" in text
    assert "$.loans[0].units = 11" in text and "2025-12-31" in text
    pdf = print_pdf(page.as_uri(), tmp_path / "packet.pdf", tmp_path / "profile")
    assert pdf.is_file() and pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000
