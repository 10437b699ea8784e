"""`rulecite lsp`: the language server, driven over its protocol (JSON-RPC on stdio, as an
editor does) on the bundled CMS pack; the editor files it ships with (the VS Code
extension, the TextMate grammar written from the language's word table); and the public
functions it is built on.

The pack on disk is never changed: documents with errors are unsaved editor texts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from rulecite.policy_lang import (
    BUILTIN_FUNCTIONS,
    KEYWORDS,
    declarations,
    format_text,
    load_edited,
    parse,
    references,
    resolve_pack_path,
)

from .conftest import LIBRARY, ROOT

pytest.importorskip("pygls", reason="the lsp extra is part of the development install")

CMS = resolve_pack_path("cms-care-management").resolve()
EDITORS = ROOT / "editors"


# ---------------------------------------------------------------- a session on the CMS pack


@pytest.fixture(scope="module")
def lsp():
    from .lsp_client import LspClient

    client = LspClient()
    client.init = client.initialize(CMS)
    ccm = CMS / "ccm.policy"
    client.ccm_text = ccm.read_text(encoding="utf-8")
    client.ccm = client.open(ccm)
    client.opened = client.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == client.ccm)
    yield client
    assert client.close() == 0


def _pos(text: str, needle: str, offset: int = 0, occurrence: int = 0) -> dict:
    """The LSP position of ``needle`` (its ``occurrence``-th line) plus ``offset`` characters."""
    seen = 0
    for i, line in enumerate(text.split("\n")):
        if needle in line:
            if seen == occurrence:
                return {"line": i, "character": line.index(needle) + offset}
            seen += 1
    raise AssertionError(f"{needle!r} not in the text")


def _at(lsp, method: str, needle: str, offset: int = 1, uri=None, text=None, **extra):
    uri = uri or lsp.ccm
    text = text if text is not None else lsp.ccm_text
    return lsp.request(method, {"textDocument": {"uri": uri}, "position": _pos(text, needle, offset), **extra})


def _line_of(path: Path, needle: str) -> int:
    return _pos(path.read_text(encoding="utf-8"), needle)["line"]


def test_initialize_advertises_every_capability(lsp):
    caps = lsp.init["capabilities"]
    for cap in ("hoverProvider", "definitionProvider", "referencesProvider", "documentSymbolProvider",
                "documentFormattingProvider"):
        assert caps[cap], cap
    assert "." in caps["completionProvider"]["triggerCharacters"]
    assert caps["textDocumentSync"]["change"] == 1  # full text
    assert lsp.init["serverInfo"]["name"] == "rulecite"


def test_an_unchanged_pack_file_gets_no_errors(lsp):
    assert not [d for d in lsp.opened["diagnostics"] if d["severity"] == 1], lsp.opened


def test_diagnostics_as_you_type_with_code_caret_and_hint(lsp):
    text = lsp.ccm_text.replace("deny unless chronic_count >= 2", "deny unless chronic_cont >= 2")
    mark = lsp.mark()
    lsp.change(lsp.ccm, text, 2)
    params = lsp.wait_notification("textDocument/publishDiagnostics",
                                   lambda p: p["uri"] == lsp.ccm and p["diagnostics"], after=mark)
    (d,) = [d for d in params["diagnostics"] if d["code"] == "E200"]
    assert d["source"] == "rulecite" and d["severity"] == 1
    start = _pos(text, "chronic_cont >= 2")
    assert d["range"] == {"start": start, "end": {"line": start["line"], "character": start["character"] + 12}}
    assert "unknown name `chronic_cont`" in d["message"]
    assert "hint: did you mean `chronic_count`?" in d["message"]
    assert d["data"]["name"] == "unknown-name" and d["data"]["hints"] == ["did you mean `chronic_count`?"]

    # a syntax error: the parser's code and caret
    broken = lsp.ccm_text.replace("deny unless chronic_count >= 2", "deny unless chronic_count >=")
    mark = lsp.mark()
    lsp.change(lsp.ccm, broken, 3)
    params = lsp.wait_notification("textDocument/publishDiagnostics",
                                   lambda p: p["uri"] == lsp.ccm and p["diagnostics"], after=mark)
    codes = {d["code"] for d in params["diagnostics"]}
    assert "E100" in codes
    e100 = next(d for d in params["diagnostics"] if d["code"] == "E100")
    assert e100["range"]["start"]["line"] == _pos(broken, "message \"CCM needs 2+")["line"]

    # requests still answer from the last good names while the text is broken
    hover = _at(lsp, "textDocument/hover", "cite W_NORIDIAN", 6, text=broken)
    assert "W_NORIDIAN" in hover["contents"]["value"]

    # fixed again: the diagnostics are cleared
    mark = lsp.mark()
    lsp.change(lsp.ccm, lsp.ccm_text, 4)
    params = lsp.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == lsp.ccm, after=mark)
    assert not [d for d in params["diagnostics"] if d["severity"] == 1]


def test_an_edit_in_one_file_reports_errors_in_the_others(lsp):
    """Diagnostics cover every file of the pack: renaming a set in catalog.policy (unsaved)
    breaks its uses in ccm.policy, which is open, and in files that are not."""
    catalog = CMS / "catalog.policy"
    text = catalog.read_text(encoding="utf-8").replace("set CCM_ALL =", "set CCM_EVERY =")
    mark = lsp.mark()
    uri = lsp.open(catalog, text)
    params = lsp.wait_notification("textDocument/publishDiagnostics",
                                   lambda p: p["uri"] == lsp.ccm and p["diagnostics"], after=mark)
    d = next(d for d in params["diagnostics"] if "CCM_ALL" in d["message"])
    assert d["code"] in ("E200", "E203")
    assert d["range"]["start"] == _pos(lsp.ccm_text, "CCM_ALL")
    # closing the unsaved document puts the file on disk back: the errors go
    mark = lsp.mark()
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    params = lsp.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == lsp.ccm, after=mark)
    assert not [d for d in params["diagnostics"] if d["severity"] == 1]


def test_hover_on_a_rule_gives_title_window_and_citations_by_authority(lsp):
    value = _at(lsp, "textDocument/hover", "rule ccm.conditions", 6)["contents"]["value"]
    assert "**rule** `ccm.conditions`" in value
    assert "CCM needs two or more chronic conditions" in value
    assert "in force always to open-ended" in value
    cited = re.findall(r"^- \[?`?([A-Z0-9_]+)", value, re.MULTILINE)
    assert set(cited) == {"FR15", "MLN909188", "W_NORIDIAN", "W_NGS_CCM", "MHP_CCM"}
    # primary sources (final rule, guidance) before the rest; as written within a tier
    assert cited[:2] == ["FR15", "MLN909188"]
    assert cited.index("MHP_CCM") > cited.index("MLN909188")


def test_citations_are_ordered_by_tier_then_as_written():
    from rulecite.cli.lsp.workspace import by_authority, tier

    def cite(name, kind):
        return SimpleNamespace(source=SimpleNamespace(name=name, kind=kind))

    cites = [cite("V", "vendor"), cite("X", "made_up"), cite("L", "lcd"), cite("S", "statute"),
             cite("O", "other"), cite("G", "guidance"), cite("N", None)]
    assert [c.source.name for c in by_authority(cites)] == ["S", "G", "L", "V", "O", "X", "N"]
    assert tier("final_rule") == (0, "primary") and tier("mac_article")[1] == "contractor"
    assert tier("proposed_rule")[1] == "secondary" and tier("whatever")[1] == "unranked"


def test_hover_on_a_code_gives_descriptor_window_and_replacement(lsp):
    catalog = CMS / "catalog.policy"
    text = catalog.read_text(encoding="utf-8")
    uri = catalog.as_uri()
    lsp.open(catalog, text)
    value = _at(lsp, "textDocument/hover", "code G2058", 6, uri=uri, text=text)["contents"]["value"]
    assert "**code** `G2058`: CCM add-on of 2020" in value
    assert "valid 2020-01-01 to 2020-12-31" in value
    assert "replaced by `99439`" in value
    # a code used as a string in a condition
    value = _at(lsp, "textDocument/hover", 'line.code == "99490"', 15)["contents"]["value"]
    assert "**code** `99490`" in value and "valid 2015-01-01" in value
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_hover_on_a_source_gives_title_citation_and_dates(lsp):
    value = _at(lsp, "textDocument/hover", "cite FR15", 6)["contents"]["value"]
    assert "**source** `FR15`: CY 2015 Medicare Physician Fee Schedule" in value
    assert "citation: 79 FR 67547" in value
    assert "published: 2014-11-13" in value and "effective: 2015-01-01" in value
    assert "kind: final_rule (primary)" in value


def test_hover_on_a_field_gives_its_description_from_the_facts_schema(lsp):
    schema = json.loads((CMS / "facts.schema.json").read_text(encoding="utf-8"))
    code = schema["properties"]["claims"]["items"]["properties"]["code"]["description"]
    hover = _at(lsp, "textDocument/hover", "where line.code in CCM_ALL", 12)
    assert "**field** `line.code`" in hover["contents"]["value"]
    assert code in hover["contents"]["value"]
    start = _pos(lsp.ccm_text, "where line.code in CCM_ALL", 11)
    assert hover["range"]["start"] == start and hover["range"]["end"]["character"] == start["character"] + 4


def test_hover_on_sets_and_lets(lsp):
    assert "6 codes: 99437, 99439" in _at(lsp, "textDocument/hover", "CCM_ALL")["contents"]["value"]
    value = _at(lsp, "textDocument/hover", "ccm_add_on_minutes * units_so_far", 21)["contents"]["value"]
    assert "**let** `units_so_far`" in value and "units_through_line(line)" in value


@pytest.mark.parametrize("needle, offset, file, declared", [
    ("CCM_ALL", 1, "catalog.policy", "set CCM_ALL"),
    ("cite FR15", 6, "sources.policy", "source FR15"),
    ("unless chronic_count", 8, "common.policy", "let chronic_count"),
    ('line.code == "99490"', 15, "catalog.policy", 'code 99490 "'),
    ("ccm_add_on_minutes * units_so_far", 21, "ccm.policy", "let units_so_far"),
], ids=["set", "source", "let", "code", "rule-local-let"])
def test_go_to_definition(lsp, needle, offset, file, declared):
    (loc,) = _at(lsp, "textDocument/definition", needle, offset)
    assert loc["uri"] == (CMS / file).as_uri()
    assert loc["range"]["start"]["line"] == _line_of(CMS / file, declared)


def test_go_to_definition_of_a_rule_from_a_test(lsp):
    path = CMS / "tests" / "ccm_test.policy"
    text = path.read_text(encoding="utf-8")
    uri = lsp.open(path, text)
    (loc,) = _at(lsp, "textDocument/definition", "deny units.two-a-month, ccm.99439.minutes", 24, uri=uri, text=text)
    assert loc["uri"] == (CMS / "ccm.policy").as_uri()
    assert loc["range"]["start"]["line"] == _line_of(CMS / "ccm.policy", "rule ccm.99439.minutes")
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_find_references(lsp):
    locs = _at(lsp, "textDocument/references", "cite FR15", 6, context={"includeDeclaration": True})
    files = {Path(loc["uri"][len("file://"):]).name for loc in locs}
    assert {"sources.policy", "ccm.policy", "catalog.policy"} <= files
    in_ccm = [loc for loc in locs if loc["uri"] == lsp.ccm]
    assert len(in_ccm) == lsp.ccm_text.count("cite FR15 ")
    without = _at(lsp, "textDocument/references", "cite FR15", 6, context={"includeDeclaration": False})
    assert len(without) == len(locs) - 1
    # a rule-local let: only its own rule's uses, its message placeholder included
    locs = _at(lsp, "textDocument/references", "let units_so_far", 5, context={"includeDeclaration": False})
    lines = sorted(loc["range"]["start"]["line"] for loc in locs)
    message = _pos(lsp.ccm_text, "{units_so_far} unit(s) of 99439")["line"]
    # the second use sits in a placeholder that runs on across the break between two string
    # pieces: `"... {ccm_first_minutes + ccm_add_on_minutes * "` newline `"units_so_far} ..."`
    assert lines == [_pos(lsp.ccm_text, "ccm_add_on_minutes * units_so_far")["line"], message, message + 1]


def test_document_symbols_list_rules_codes_and_sources(lsp):
    symbols = lsp.request("textDocument/documentSymbol", {"textDocument": {"uri": lsp.ccm}})
    rules = {s["name"]: s for s in symbols}
    assert "ccm.conditions" in rules and rules["ccm.conditions"]["kind"] == 12  # Function
    assert rules["ccm.conditions"]["detail"] == "CCM needs two or more chronic conditions"
    assert [c["name"] for c in rules["ccm.99439.minutes"]["children"]] == ["units_so_far"]
    sel = rules["ccm.conditions"]["selectionRange"]["start"]
    assert sel == _pos(lsp.ccm_text, "rule ccm.conditions", 5)
    for name, kind, wanted in (("catalog.policy", 14, "G2058"), ("sources.policy", 2, "FR15")):
        path = CMS / name
        uri = lsp.open(path)
        symbols = lsp.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
        assert any(s["name"] == wanted and s["kind"] == kind for s in symbols), name
        lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def _labels(result) -> dict:
    return {i["label"]: i for i in result["items"]}


def test_completion(lsp):
    text = lsp.ccm_text
    # sources after cite
    items = _labels(_at(lsp, "textDocument/completion", "cite FR15", 5))
    assert "FR15" in items and "W_NORIDIAN" in items and items["FR15"]["kind"] == 18
    assert "deny" not in items
    # fields of the facts schema after a dot
    items = _labels(_at(lsp, "textDocument/completion", "where line.code in CCM_ALL", 11))
    assert {"code", "units", "npi"} <= set(items) and items["code"]["kind"] == 5
    # keywords, functions, top-level fields, lets and sets where an expression goes
    items = _labels(_at(lsp, "textDocument/completion", "deny unless chronic_count", 12))
    for word in ("deny", "title", "cite", "and"):
        assert items[word]["kind"] == 14, word
    for fn in ("count_distinct", "months_between"):
        assert items[fn]["kind"] == 3
    assert {"patient", "claims", "month"} <= set(items)
    assert "chronic_count" in items and "CCM_ALL" in items
    # codes inside a string compared with a code, and inside a set
    edited = text.replace('where line.code == "99490"', 'where line.code == "99')
    lsp.change(lsp.ccm, edited, 10)
    pos = _pos(edited, 'where line.code == "99', 22)
    items = _labels(lsp.request("textDocument/completion", {"textDocument": {"uri": lsp.ccm}, "position": pos}))
    assert "99490" in items and "G0556" in items and "FR15" not in items
    assert items["99490"]["detail"].startswith("Non-complex CCM")
    edited = text + "\nset MINE = {994\n"
    lsp.change(lsp.ccm, edited, 11)
    pos = {"line": len(edited.split("\n")) - 2, "character": len("set MINE = {994")}
    items = _labels(lsp.request("textDocument/completion", {"textDocument": {"uri": lsp.ccm}, "position": pos}))
    assert "99490" in items and "CCM_ALL" in items
    lsp.change(lsp.ccm, text, 12)


def test_formatting_gives_the_formatter_s_text(lsp, tmp_path):
    messy = lsp.ccm_text.replace("rule ccm.conditions {\n  title", "rule   ccm.conditions{\n      title", 1)
    assert messy != lsp.ccm_text
    lsp.change(lsp.ccm, messy, 20)
    edits = lsp.request("textDocument/formatting", {"textDocument": {"uri": lsp.ccm},
                                                    "options": {"tabSize": 2, "insertSpaces": True}})
    (edit,) = edits
    assert edit["newText"] == format_text(messy, "ccm.policy")[0]
    assert edit["range"]["start"] == {"line": 0, "character": 0}
    # a text that does not parse cannot be formatted: no edits, no crash
    lsp.change(lsp.ccm, messy.replace("deny unless chronic_count >= 2", "deny unless >="), 21)
    assert lsp.request("textDocument/formatting", {"textDocument": {"uri": lsp.ccm},
                                                   "options": {"tabSize": 2, "insertSpaces": True}}) is None
    # a text in the canonical style needs no edits
    lsp.change(lsp.ccm, edit["newText"], 22)
    assert lsp.request("textDocument/formatting", {"textDocument": {"uri": lsp.ccm},
                                                   "options": {"tabSize": 2, "insertSpaces": True}}) == []
    lsp.change(lsp.ccm, lsp.ccm_text, 23)


def test_a_file_outside_any_pack_gets_its_syntax_errors(lsp, tmp_path):
    loose = tmp_path / "scratch.policy"
    loose.write_text("rule a.b {\n  title \"t\"\n  deny when\n}\n", encoding="utf-8")
    mark = lsp.mark()
    uri = lsp.open(loose)
    params = lsp.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri, after=mark)
    assert params["diagnostics"] and params["diagnostics"][0]["code"] == "E100"
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


# ---------------------------------------------------------------- the command


def test_lsp_without_pygls_names_the_extra(monkeypatch):
    from rulecite.cli.main import cli

    monkeypatch.setitem(sys.modules, "pygls", None)  # import pygls raises ImportError
    r = CliRunner().invoke(cli, ["lsp"])
    assert r.exit_code == 2
    assert "`lsp` extra" in r.output and "pip install 'rulecite[lsp]'" in r.output
    assert "Traceback" not in r.output


# ---------------------------------------------------------------- the public functions


def test_load_edited_checks_unsaved_texts_and_unsaved_files():
    rules = LIBRARY / "rules.policy"
    broken = rules.read_text(encoding="utf-8").replace("total_units <= 10", "total_unit <= 10")
    loaded = load_edited(LIBRARY, {str(rules): broken})
    assert any(d.code == "E200" and d.span.file == str(rules.resolve()) for d in loaded.diagnostics)
    assert load_edited(LIBRARY, {}).ok
    new = LIBRARY / "not_saved_yet.policy"
    assert not new.exists()
    loaded = load_edited(LIBRARY, {str(new): "set BROKEN = {NOPE}\n"})
    assert any(d.code == "E203" and d.span.file.endswith("not_saved_yet.policy") for d in loaded.diagnostics)


def test_declarations_and_references_point_at_the_names():
    for path in sorted(CMS.rglob("*.policy")):
        text = path.read_text(encoding="utf-8")
        module, _ = parse(text, str(path))
        if module is None:
            continue
        lines = text.split("\n")
        for item in (*declarations(module, text), *references(module, text)):
            s = item.span
            assert s.line == s.end_line, item
            assert lines[s.line - 1][s.column - 1:s.end_column - 1] == item.name, item


# ---------------------------------------------------------------- editor files


def test_the_grammar_files_are_what_the_generator_writes():
    r = subprocess.run([sys.executable, str(EDITORS / "generate.py"), "--check"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    ours = (EDITORS / "policy.tmLanguage.json").read_text(encoding="utf-8")
    assert ours == (EDITORS / "vscode" / "syntaxes" / "policy.tmLanguage.json").read_text(encoding="utf-8")
    grammar = json.loads(ours)
    assert grammar["scopeName"] == "source.rulecite-policy"
    text = json.dumps(grammar)
    for fn in BUILTIN_FUNCTIONS:
        assert re.search(r"[(|]" + fn + r"[|)]", text), fn
    for w in KEYWORDS["severity"] + KEYWORDS["constant"] + KEYWORDS["special"]:
        assert re.search(r"[(|]" + w + r"[|)]", text), w


def test_the_word_table_covers_every_word_of_the_grammar():
    from importlib import resources

    lark = resources.files("rulecite.policy_lang.syntax").joinpath("policy.lark").read_text(encoding="utf-8")
    words = set(re.findall(r'"([a-z_]+)"i?', lark))
    listed = {w for ws in KEYWORDS.values() for w in ws}
    assert words - listed == set()


def test_the_lexer_reads_the_word_table():
    from rulecite.policy_lang.syntax import pygments_lexer

    assert pygments_lexer.BUILTINS == BUILTIN_FUNCTIONS
    assert pygments_lexer.FIELDS == KEYWORDS["field"]


def test_the_vscode_extension_manifest():
    ext = EDITORS / "vscode"
    pkg = json.loads((ext / "package.json").read_text(encoding="utf-8"))
    assert pkg["name"] and pkg["publisher"] and pkg["version"] and pkg["engines"]["vscode"]
    assert (ext / pkg["main"]).is_file()
    (lang,) = pkg["contributes"]["languages"]
    assert lang["id"] == "policy" and ".policy" in lang["extensions"]
    json.loads((ext / lang["configuration"]).read_text(encoding="utf-8"))
    (grammar,) = pkg["contributes"]["grammars"]
    assert grammar["language"] == "policy"
    assert json.loads((ext / grammar["path"]).read_text(encoding="utf-8"))["scopeName"] == grammar["scopeName"]
    assert "vscode-languageclient" in pkg["dependencies"]
    js = (ext / "extension.js").read_text(encoding="utf-8")
    assert '"lsp"' in js and "vscode-languageclient/node" in js and "activate" in js
    assert "node_modules/" in (ext / ".gitignore").read_text(encoding="utf-8")
