"""Every ``policy`` code block of the hand-written docs is parsed and checked.

A block is checked inside a small harness pack (the CMS facts schema plus a prelude of
sources, codes, sets and rules the examples refer to; the prelude leaves out whatever
the block declares itself), and the pack tests a block declares must pass. An HTML
comment right before a block says how to check it when it is not a list of
declarations:

    <!-- check: fields -->        rule fields: wrapped in a rule
    <!-- check: expr -->          one expression per line: each becomes a `let`
    <!-- check: extends -->       declarations of a pack that extends the prelude pack
    <!-- check: error E202 -->    intentionally wrong: must fail with that code

Blocks whose fence has a ``title="PACK/FILE"`` are files of a whole example pack: they
are written out together, and that pack must load and pass its tests. Python blocks
after ``<!-- check: python -->`` are run.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from rulecite.interpreter import load_pack
from rulecite.interpreter.tools.packtest import run_tests
from rulecite.policy_lang import load, parse, render_text

from .conftest import ROOT

DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "generated" not in p.parts)
SCHEMA = ROOT / "packs" / "cms-care-management" / "facts.schema.json"

FENCE = re.compile(r"^(?P<indent>[ ]*)(?P<ticks>`{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=ticks)[ ]*$",
                   re.M | re.S)
MARK = re.compile(r"<!--\s*check:\s*(?P<mode>[a-z-]+)\s*(?P<arg>[^>]*?)\s*-->\s*$")

PRELUDE = {
    ("source", "PFS2025"): '''source PFS2025 {
  title "CY 2025 Medicare Physician Fee Schedule Final Rule (CMS-1807-F)"
  citation "89 FR 97710"
  document "2024-25382"
  published 2024-12-09
  url "https://www.federalregister.gov/d/2024-25382"
}''',
    ("source", "PFS2026"): '''source PFS2026 {
  title "CY 2026 Medicare Physician Fee Schedule Final Rule (CMS-1832-F)"
  citation "90 FR 49266"
  document "2025-19787"
  published 2025-11-05
  url "https://www.federalregister.gov/d/2025-19787"
}''',
    ("source", "NGS_CCM"): '''source NGS_CCM {
  title "Chronic care management services (MAC guidance)"
  url "https://example.org/ngs-ccm"
  published 2025-01-15
}''',
    ("source", "W_CPTCALC"): '''source W_CPTCALC {
  title "A coding calculator page"
  url "https://example.org/cptcalc"
}''',
    ("source", "NARHC26F"): '''source NARHC26F {
  title "RHC and FQHC changes in the CY 2026 PFS"
  url "https://example.org/narhc"
  published 2025-11-10
}''',
    ("code", "G0556"): 'code G0556 "APCM, level 1" { program APCM effective 2025-01-01 cite PFS2025 }',
    ("code", "G0557"): 'code G0557 "APCM, level 2" { program APCM effective 2025-01-01 cite PFS2025 }',
    ("code", "G0558"): 'code G0558 "APCM, level 3" { program APCM effective 2025-01-01 cite PFS2025 }',
    ("code", "G0568"): 'code G0568 "APCM add-on: CoCM, first month" { program APCM_BH effective 2026-01-01 cite PFS2026 }',
    ("code", "G0569"): 'code G0569 "APCM add-on: CoCM, later month" { program APCM_BH effective 2026-01-01 cite PFS2026 }',
    ("code", "G0570"): 'code G0570 "APCM add-on: general BHI" { program APCM_BH effective 2026-01-01 cite PFS2026 }',
    ("code", "99490"): 'code 99490 "CCM, first 20 minutes of clinical staff time" { program CCM cite PFS2025 }',
    ("code", "99439"): 'code 99439 "CCM, each additional 20 minutes" { program CCM cite PFS2025 }',
    ("code", "99491"): 'code 99491 "CCM by a practitioner, first 30 minutes" { program CCM cite PFS2025 }',
    ("code", "99424"): 'code 99424 "PCM by a practitioner, first 30 minutes" { program PCM cite PFS2025 }',
    ("code", "99492"): 'code 99492 "CoCM, first month" { program COCM cite PFS2025 }',
    ("code", "99493"): 'code 99493 "CoCM, later month" { program COCM cite PFS2025 }',
    ("code", "G0511"): 'code G0511 "RHC/FQHC general care management" { program FQHC until 2025-09-30 cite PFS2025 }',
    ("set", "APCM_BASE"): "set APCM_BASE = {G0556, G0557, G0558}",
    ("set", "APCM_ADDON"): "set APCM_ADDON = {G0568, G0569, G0570}",
    ("set", "CCM"): "set CCM = {99490, 99439, 99491}",
    ("let", "ccm_staff_minutes"): '''let ccm_staff_minutes = sum(t.minutes for t in time
                            where t.program == "CCM" and t.role == "clinical_staff")''',
    ("rule", "apcm.addon.same-practitioner"): '''rule apcm.addon.same-practitioner {
  title "A behavioral health add-on needs APCM billed by the same practitioner that month"
  effective 2026-01-01
  cite PFS2026
  for line in claims where line.code in APCM_ADDON
  deny unless any(base in claims where base.code in APCM_BASE and base.npi == line.npi)
  message "{line.code} billed by {line.npi} without G0556-G0558 from the same practitioner this month"
}''',
    ("rule", "fqhc.g0511.allowed"): '''rule fqhc.g0511.allowed {
  title "G0511 is for RHCs and FQHCs"
  cite PFS2025
  for line in claims where line.code == "G0511"
  deny unless practice.type in ["fqhc", "rhc"]
  message "G0511 billed by a {practice.type} practice"
}''',
}

PACK_TOML = """[pack]
name = "{name}"
version = "2026.1.0"
title = "Examples from the documentation"
language = "1"
{extends}
[coverage]
from = 2025-01-01
until = 2026-12-31

[record]
id = "patient_id"
period = "month"
lines = "claims"
line_id = "line"
line_code = "code"
line_date = "date"
"""

CASE_JSON = {"patient_id": "T9", "month": "2026-02", "claims": [{"line": 1, "code": "99490"}]}


def blocks(page: Path) -> list:
    """(line number, language, info string, body, check mark) of every fenced block."""
    text = page.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        info = m.group("info").strip()
        lang = info.split()[0] if info else ""
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        body = "\n".join(line[len(m.group("indent")):] for line in m.group("body").split("\n"))
        out.append((text.count("\n", 0, m.start()) + 1, lang, info, body,
                    (mark.group("mode"), mark.group("arg")) if mark else None))
    return out


def _with_next(page: Path) -> list:
    """Each block with the body of the block after it when that one is ``text`` (the
    output an intentionally wrong example shows)."""
    found = blocks(page)
    return [(b, found[i + 1][3] if i + 1 < len(found) and found[i + 1][1] == "text" else None)
            for i, b in enumerate(found)]


POLICY_BLOCKS = [
    pytest.param(block, shown, id=f"{page.relative_to(DOCS)}:{block[0]}")
    for page in PAGES for block, shown in _with_next(page)
    if block[1] in ("policy", "rulecite") and "title=" not in block[2]
]


def _declared(body: str) -> set:
    module, _ = parse(body, "<block>")
    if module is None:
        return set()
    kinds = {"SourceDecl": "source", "CodeDecl": "code", "SetDecl": "set", "LetDecl": "let", "RuleDecl": "rule"}
    out = set()
    for d in module.decls:
        kind = kinds.get(type(d).__name__)
        if kind:
            out.add((kind, getattr(d, "name", None) or getattr(d, "id", None)))
    return out


def _write_pack(root: Path, name: str, policy: dict, extends: str = "") -> Path:
    root.mkdir(parents=True)
    (root / "pack.toml").write_text(PACK_TOML.format(name=name, extends=f'extends = "{extends}"' if extends else ""))
    if not extends:
        (root / "facts.schema.json").write_text(SCHEMA.read_text())
    (root / "tests").mkdir()
    (root / "tests" / "case.json").write_text(json.dumps(CASE_JSON))
    for file, text in policy.items():
        (root / file).write_text(text + "\n")
    return root


def _harness(tmp_path: Path, body: str, mode: str | None) -> Path:
    if mode == "fields":
        body = ('rule docs.fragment {\n  title "fragment"\n' + body.rstrip()
                + '\n  for record\n  deny when false\n  message "never"\n}')
    elif mode == "expr":
        lines = [ln.split("  #")[0].strip() for ln in body.splitlines()]
        body = "\n".join(f"let docs_expr_{i} = {ln}" for i, ln in enumerate(lines) if ln and not ln.startswith("#"))
    if mode == "extends":
        prelude = "\n\n".join(PRELUDE.values())
        _write_pack(tmp_path / "base", "docs-base", {"prelude.policy": prelude})
        return _write_pack(tmp_path / "example", "docs-example", {"example.policy": body}, extends="../base")
    mine = _declared(body)
    prelude = "\n\n".join(text for key, text in PRELUDE.items() if key not in mine)
    return _write_pack(tmp_path / "example", "docs-example", {"prelude.policy": prelude, "example.policy": body})


def test_the_docs_have_policy_examples():
    assert len(POLICY_BLOCKS) >= 15
    assert any(p.name == "language.md" for p in PAGES)


@pytest.mark.parametrize("block,shown", POLICY_BLOCKS)
def test_policy_example(block, shown, tmp_path):
    line, _, _, body, mark = block
    mode, arg = mark if mark else (None, "")
    root = _harness(tmp_path, body, mode)
    loaded = load(root)
    errors = [d for d in loaded.diagnostics if d.severity == "error"]
    if mode == "error":
        assert arg, "an intentionally wrong example names the error code it shows"
        assert arg in {d.code for d in errors}, f"expected {arg}, got {[(d.code, d.message) for d in errors]}"
        if shown is not None:  # the output the page shows is the checker's, word for word
            example = str(root / "example.policy")
            rendered = render_text([d for d in errors if d.span.file == example],
                                   {example: loaded.texts[example]}).replace(example, "example.policy")
            for line in shown.strip().splitlines():
                assert line in rendered.splitlines(), f"the page shows {line!r}; the checker says:\n{rendered}"
        return
    assert not errors, "\n".join(f"{d.code} {d.span.line}:{d.span.column} {d.message}" for d in errors)
    pack = load_pack(root)
    own = [t for t in pack.model.tests if Path(t.file).name == "example.policy"]
    if own:
        report = run_tests(pack)
        failed = [f"{c.name}: {'; '.join(c.failures)}" for c in report.cases
                  if not c.passed and c.file.endswith("example.policy")]
        assert not failed, "\n".join(failed)


def _titled_files(page: Path) -> dict:
    files: dict = {}
    for _, _, info, body, _ in blocks(page):
        m = re.search(r'title="([^"]+)"', info)
        if m:
            files[m.group(1)] = body
    return files


def test_getting_started_pack_loads_and_passes_its_tests(tmp_path):
    files = _titled_files(DOCS / "getting-started.md")
    packs = {name.split("/", 1)[0] for name in files if "/" in name}
    assert packs, "getting-started.md builds an example pack from titled code blocks"
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for pack_dir in packs:
        if not (tmp_path / pack_dir / "pack.toml").is_file():
            continue
        loaded = load(tmp_path / pack_dir)
        assert loaded.ok, [(d.code, d.message) for d in loaded.diagnostics]
        report = run_tests(load_pack(tmp_path / pack_dir))
        assert report.cases and report.failed == 0, [c.failures for c in report.cases if not c.passed]
    # the misspelling the page shows gets the error the page shows
    for _, _, _, shown, mark in blocks(DOCS / "getting-started.md"):
        if mark and mark[0] == "misspell":
            right, wrong = mark[1].split()
            rules = tmp_path / "first-pack" / "rules.policy"
            rules.write_text(rules.read_text().replace(right, wrong, 1))
            loaded = load(tmp_path / "first-pack")
            rendered = render_text([d for d in loaded.diagnostics if d.severity == "error"], loaded.texts)
            rendered = rendered.replace(str(tmp_path) + "/", "")
            for line in shown.strip().splitlines():
                assert line in rendered.splitlines(), f"the page shows {line!r}; the checker says:\n{rendered}"


PYTHON_BLOCKS = [
    pytest.param(block, id=f"{page.relative_to(DOCS)}:{block[0]}")
    for page in PAGES for block in blocks(page)
    if block[1] == "python" and block[4] and block[4][0] == "python"
]


@pytest.mark.parametrize("block", PYTHON_BLOCKS)
def test_python_example_runs(block, monkeypatch):
    monkeypatch.chdir(ROOT)
    exec(compile(block[3], f"<docs {block[0]}>", "exec"), {"__name__": "__docs__"})


SHOWS = re.compile(r"<!--\s*shows:\s*(?P<command>rulecite [^>]*?)\s*-->\s*$")


def _shown_matches(shown: str, output: str) -> list:
    """The lines of ``shown`` that are not lines of ``output``, in order: ``...`` alone is
    lines left out, a line ending in `` ...`` is its start, any other line is a whole line."""
    lines = output.splitlines()
    missing, at = [], 0
    for line in shown.strip("\n").splitlines():
        if not line.strip() or line.strip() == "...":
            continue
        fits = (lambda x, line=line: x.startswith(line[:-4])) if line.endswith(" ...") else (
            lambda x, line=line: x == line)
        found = next((i for i in range(at, len(lines)) if fits(lines[i])), None)
        if found is None:
            missing.append(line)
        else:
            at = found + 1
    return missing


def _replay(page: Path, tmp_path: Path, monkeypatch) -> dict:
    """Runs every `rulecite` command of ``page``'s ``sh`` blocks in a scratch folder, in page
    order, after `new-version` and after writing (or, for a ``diff`` block, applying) every
    file shown with a ``title``; checks each ``text`` block marked ``<!-- shows: COMMAND -->``
    against what that command printed, line by line and in order. Gives the outputs."""
    from .cli_support import run

    (tmp_path / "tests").symlink_to(ROOT / "tests", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    found = blocks(page)
    commands = [c.strip() for _, lang, _, body, _ in found if lang == "sh" for c in body.splitlines()
                if c.strip().startswith("rulecite ")]
    assert commands, "the page shows rulecite commands"
    outputs: dict = {}

    def invoke(command: str):
        r = run(shlex.split(command)[1:])
        assert r.exit_code == 0 and "Traceback" not in r.output, f"`{command}` exited {r.exit_code}:\n{r.output}"
        outputs[command] = r.stdout

    for command in commands:
        if command.startswith("rulecite new-version "):
            invoke(command)
    for _, lang, info, body, _ in found:
        m = re.search(r'title="([^"]+)"', info)
        if not m:
            continue
        path = tmp_path / m.group(1)
        if lang != "diff":
            path.write_text(body)
            continue
        context = "\n".join(line[1:] for line in body.splitlines() if not line.startswith("+"))
        after = "\n".join(line[1:] for line in body.splitlines())
        text = path.read_text()
        assert context in text, f"the page's edit of {m.group(1)} no longer applies to it:\n{context}"
        path.write_text(text.replace(context, after, 1))
    for command in commands:
        if not command.startswith("rulecite new-version "):
            invoke(command)
    text = page.read_text(encoding="utf-8")
    checked = 0
    for line_no, lang, _, body, _ in found:
        before = text.split("\n")[line_no - 2] if line_no >= 2 else ""
        m = SHOWS.search(before)
        if lang != "text" or not m:
            continue
        command = m.group("command")
        assert command in outputs, f"line {line_no} shows the output of `{command}`, a command the page never runs"
        missing = _shown_matches(body, outputs[command])
        assert not missing, f"the page shows {missing[0]!r} (line {line_no}); `{command}` says:\n{outputs[command]}"
        checked += 1
    outputs["checked"] = checked
    return outputs


def test_shown_output_matching():
    out = "a\nb c d\ne\nf\n"
    assert _shown_matches("a\n...\nb c ...\nf", out) == []
    assert _shown_matches("e\na", out) == ["a"]  # in order
    assert _shown_matches("b c", out) == ["b c"]  # a whole line unless it ends in " ..."


def test_yearly_update_walkthrough(tmp_path, monkeypatch):
    """Replays docs/guides/yearly-update.md: every command it shows, on the library pack and on
    the CMS pack, with the files it shows, and every output it shows."""
    from .conftest import LIBRARY

    page = DOCS / "guides" / "yearly-update.md"
    outputs = _replay(page, tmp_path, monkeypatch)
    assert outputs["checked"] >= 9
    dest = tmp_path / "library-loans-2027.1.0"
    assert "until = 2027-12-31" in (dest / "pack.toml").read_text()  # new-version extends the coverage
    assert list(_titled_files(page)) == ["library-loans-2027.1.0/bylaws-2027.policy", "facts-2027.jsonl",
                                         "cms-care-management-2027.1.0/cy2027.policy",
                                         "cms-care-management-2027.1.0/parameters.policy", "cms-facts-2027.jsonl"]
    report = run_tests(load_pack(dest))
    assert report.failed == 0 and report.coverage.complete
    assert f"{report.passed} passed, 0 failed" in outputs["rulecite test library-loans-2027.1.0 --coverage"]
    # the publication clock on the library walkthrough (section 8): the page says what eval judges
    from rulecite.interpreter import evaluate

    facts = [json.loads(line) for line in (tmp_path / "facts-2027.jsonl").read_text().splitlines() if line.strip()]
    new = load_pack(dest)

    def verdicts(as_of):
        return [(r.lines[0].verdict, r.lines[0].rules) for r in evaluate(new, facts[:2], as_of=as_of)]

    assert verdicts("2026-11-17") == [("allow", ()), ("deny", ("media.agreement",))]
    assert verdicts("2026-11-18") == verdicts(None) == [("deny", ("stream.week",)), ("allow", ())]
    shown = outputs["rulecite eval library-loans-2027.1.0 facts-2027.jsonl --as-of 2026-11-17"].splitlines()
    assert [json.loads(line)["lines"][0]["verdict"] for line in shown[:2]] == ["allow", "deny"]
    # the CMS walkthrough: one value line, the rule untouched, the new code in its program's set
    cms = load(tmp_path / "cms-care-management-2027.1.0").pack
    cap = cms.parameter("cap_99439")
    assert [(v.start.isoformat(), v.value) for v in cap.values][-2:] == [("2025-01-01", 2), ("2027-01-01", 3)]
    assert "GXMPL" in cms.set("APCM_ADDON").members
    # a new rule with the new source, reached by its tests, and the site published from it
    (rule,) = [r for r in cms.rules if r.id == "apcm.gxmpl.once-a-month"]
    assert [c.source.name for c in rule.citations] == ["PFS2027"]
    site = tmp_path / "site-2027"
    pages = [p for p in site.rglob("*.html") if "apcm.gxmpl.once-a-month" in p.read_text(encoding="utf-8")]
    assert (site / "index.html").is_file() and pages
