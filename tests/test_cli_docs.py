"""``rulecite docs``: the pack's reference pages, written by the docs generator."""

from __future__ import annotations

import pytest

from tests.cli_support import BRANCH, LIBRARY, run


@pytest.mark.parametrize("pack", [LIBRARY, BRANCH])
def test_writes_markdown_pages(pack, tmp_path):
    out = tmp_path / "ref"
    r = run(["docs", pack, "--out", out])
    assert r.exit_code == 0, r.output
    pages = list(out.rglob("*.md"))
    assert pages, "no pages written"
    text = "\n".join(p.read_text(encoding="utf-8") for p in pages)
    assert "loans.limit" in text
    assert "wrote" in r.stderr


def test_out_is_required():
    r = run(["docs", LIBRARY])
    assert r.exit_code == 2 and "--out" in r.output


def test_an_out_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = run(["docs", LIBRARY, "--out", f])
    assert r.exit_code == 2
    assert "Traceback" not in r.output
