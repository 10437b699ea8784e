"""Hostile and careless input to ``rulecite evidence --all``: record ids that are paths,
device names, empty, long or control characters; ids differing only in case; links and
foreign files in the out folder. Every packet is a plain file in the folder asked for."""

from __future__ import annotations

import os
import re

import pytest

from tests.cli_support import LIBRARY, assert_bad_input, run, write_jsonl


def _record(member_id, month="2025-03", units=1):
    return {"member_id": member_id, "month": month,
            "loans": [{"line": 1, "item": "BOOK", "units": units, "date": f"{month}-02"}]}


# ---------------------------------------------------------------- rulecite evidence --all


def test_packets_never_write_through_a_symlink_in_the_out_folder(tmp_path):
    facts = write_jsonl(tmp_path / "facts.jsonl", [_record("M1", units=11)])
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(secret, out / "M1-2025-03.html")
    r = run(["evidence", LIBRARY, facts, "--all", "--out", out])
    assert r.exit_code == 0, r.output
    assert secret.read_text(encoding="utf-8") == "SECRET"
    packet = out / "M1-2025-03.html"
    assert not packet.is_symlink() and "Evidence packet" in packet.read_text(encoding="utf-8")


def test_an_index_another_program_wrote_is_never_overwritten(tmp_path):
    facts = write_jsonl(tmp_path / "facts.jsonl", [_record("M1")])
    out = tmp_path / "docs"
    out.mkdir()
    (out / "index.md").write_text("# My documentation\n", encoding="utf-8")
    assert_bad_input(run(["evidence", LIBRARY, facts, "--all", "--out", out]), "index.md")
    assert (out / "index.md").read_text(encoding="utf-8") == "# My documentation\n"
    assert sorted(p.name for p in out.iterdir()) == ["index.md"]  # nothing written before the refusal


def test_an_earlier_index_of_packets_is_replaced(tmp_path):
    facts = write_jsonl(tmp_path / "facts.jsonl", [_record("M1")])
    out = tmp_path / "out"
    assert run(["evidence", LIBRARY, facts, "--all", "--out", out]).exit_code == 0
    r = run(["evidence", LIBRARY, facts, "--all", "--out", out])
    assert r.exit_code == 0, r.output


def test_ids_differing_only_in_case_get_files_a_case_blind_disk_keeps_apart(tmp_path):
    facts = write_jsonl(tmp_path / "facts.jsonl", [_record("index"), _record("Index"), _record("INDEX")])
    out = tmp_path / "out"
    r = run(["evidence", LIBRARY, facts, "--all", "--out", out])
    assert r.exit_code == 0, r.output
    names = [p.name for p in out.glob("*.html") if p.name != "index.html"]
    assert len(names) == 3
    assert len({n.lower() for n in names}) == 3, names
    index = (out / "index.html").read_text(encoding="utf-8")
    for n in names:
        assert f'href="{n}"' in index


@pytest.mark.parametrize("member_id", ["", ".", "..", "-", "--all", "../../x", "/etc/passwd", "a\x00b", "a\nb",
                                       "CON", "x" * 300])
def test_a_hostile_record_id_is_a_plain_file_in_the_out_folder(tmp_path, member_id):
    facts = write_jsonl(tmp_path / "facts.jsonl", [_record(member_id, units=11)])
    out = tmp_path / "out"
    r = run(["evidence", LIBRARY, facts, "--all", "--out", out])
    assert r.exit_code == 0, r.output
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 4 and "index.html" in written and "index.md" in written, written
    for name in written:
        assert not name.startswith(("-", ".")) and len(name) <= 110, name  # never read as an option, never hidden
        assert re.fullmatch(r"[A-Za-z0-9._-]+", name), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["facts.jsonl", "out"]


def test_an_empty_out_is_bad_input_not_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    facts = write_jsonl(tmp_path / "facts.jsonl", [_record("M1")])
    assert_bad_input(run(["evidence", LIBRARY, facts, "--all", "--out", ""]), "--out")
    assert_bad_input(run(["evidence", LIBRARY, facts, "--record", "M1", "--out", " "]), "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["facts.jsonl"]


def test_the_markdown_index_shows_a_file_name_as_written(tmp_path):
    facts = write_jsonl(tmp_path / "facts.jsonl", [_record("a_b_c"), _record("x*y*z")])
    out = tmp_path / "out"
    assert run(["evidence", LIBRARY, facts, "--all", "--out", out]).exit_code == 0
    md = (out / "index.md").read_text(encoding="utf-8")
    assert "[a\\_b\\_c-2025-03.md](a_b_c-2025-03.md)" in md  # no emphasis from the underscores
    assert "[x\\_y\\_z-2025-03.md](x_y_z-2025-03.md)" in md


def test_a_repeated_line_id_never_lends_one_line_the_reasons_of_another():
    from rulecite.interpreter import load_pack
    from rulecite.interpreter.tools.evidence import evidence_packet

    rec = {"member_id": "D", "month": "2025-05", "member": {"age": 9},
           "loans": [{"line": 1, "item": "BOOK", "units": 1, "date": "2025-05-01"},
                     {"line": 1, "item": "DVD", "units": 1, "date": "2025-05-02", "days": 3}]}
    md = evidence_packet(load_pack(LIBRARY), rec).markdown
    book = md.split("### Line 1: BOOK — allow", 1)[1].split("### Line 1: DVD", 1)[0]
    dvd = md.split("### Line 1: DVD — deny", 1)[1].split("## Findings", 1)[0]
    assert "No rule denied or flagged this line." in book and "media.age" not in book
    assert "- Where in the record: $.loans\\[0\\]" in book
    assert "- Where in the record: $.loans\\[1\\]" in dvd
    assert "media.age" in dvd and "media.agreement" in dvd
    assert '$.loans\\[1\\].date = "2025-05-02"' in dvd and "$.loans\\[0\\]" not in dvd
    read = md.split("## Facts the rules read", 1)[1].split("## Input record", 1)[0]
    assert '$.loans\\[1\\].item | "DVD"' in read
    html = evidence_packet(load_pack(LIBRARY), rec).html
    assert html.count('id="line-1"') == 1 and html.count('id="line-1-2"') == 1  # each block its own target
    assert 'href="#line-1"' in html and 'href="#line-1-2"' in html


def test_all_keeps_no_written_page_in_memory_until_the_index(tmp_path, monkeypatch):
    import rulecite.interpreter.tools.evidence as tools_evidence

    seen = []
    real = tools_evidence.packets_index

    def spy(pack, entries, **kw):
        seen.extend(entries)
        return real(pack, entries, **kw)

    monkeypatch.setattr(tools_evidence, "packets_index", spy)
    facts = write_jsonl(tmp_path / "facts.jsonl", [_record(f"M{i}", units=11) for i in range(5)])
    r = run(["evidence", LIBRARY, facts, "--all", "--out", tmp_path / "out"])
    assert r.exit_code == 0, r.output
    assert len(seen) == 5 and all(e.html == "" and e.markdown == "" for e in seen)
    assert all(f'href="{e.name}.html"' in (tmp_path / "out" / "index.html").read_text(encoding="utf-8") for e in seen)
    assert all((tmp_path / "out" / f"{e.name}.html").stat().st_size > 1000 for e in seen)


def test_a_record_of_many_lines_gets_a_packet_of_bounded_size():
    from rulecite.interpreter import load_pack
    from rulecite.interpreter.tools.evidence import evidence_packet

    n = 300  # each line's limit rule sums every line: every line read every other line's units
    rec = {"member_id": "BIG", "month": "2025-03",
           "loans": [{"line": i, "item": "BOOK", "units": 1, "date": "2025-03-02"} for i in range(1, n + 1)]}
    packet = evidence_packet(load_pack(LIBRARY), rec)
    assert len(packet.html) < 8_000_000 and len(packet.markdown) < 6_000_000, (len(packet.html), len(packet.markdown))
    block = packet.markdown.split("### Line 7: BOOK — deny", 1)[1].split("### Line 8", 1)[0]
    assert "$.loans\\[0\\].units = 1" in block and f"and {n - 50} more" in block  # said, never silently dropped
    read = packet.markdown.split("## Facts the rules read", 1)[1].split("## Input record", 1)[0]
    assert "more field" in read
    assert packet.markdown.count('"line": 300') == 1  # the input record, whole
