"""The checker is a table of stages (``policy_lang.check.STAGES``), run in order, each pure.

The golden bad cases (``test_bad_cases.py``) pin the diagnostics and their order; these
tests pin the shape: the stage table, the public names, and that no stage touches the
file system (a test's facts file comes only through ``PackConfig.read_file``).
"""

from __future__ import annotations

import ast
import builtins as py_builtins
from pathlib import Path

import pytest

from rulecite.policy_lang import check as check_fn
from rulecite.policy_lang import load, parse
from rulecite.policy_lang.check import (
    DEFAULT_MAX_DEPTH,
    FUNCTION_NAMES,
    FUNCTIONS,
    STAGES,
    PackConfig,
    check,
)
from rulecite.policy_lang.model import RecordShape, Window

from .conftest import LIBRARY, ROOT

CHECK = ROOT / "policy_lang" / "check"


def test_the_stages_run_in_this_order():
    names = [s.name for s in STAGES]
    assert len(set(names)) == len(names)
    order = ["sources", "codes", "sets", "lets", "retirements", "rules", "timeline", "suggestions", "pack_tests",
             "unused"]
    assert [n for n in names if n in order] == order  # other stages may sit between these
    assert all(callable(s.run) and s.what for s in STAGES)
    assert check is check_fn and DEFAULT_MAX_DEPTH == 4
    assert FUNCTIONS["add_days"][:2] == (2, 2) and "count_distinct" in FUNCTION_NAMES


def test_no_stage_module_touches_the_file_system():
    """No `open`, `os`/`Path` file calls, `resolve` or `read_*` in the checker's modules."""
    banned = {"open", "read_text", "read_bytes", "resolve", "exists", "is_file", "stat", "iterdir", "glob", "rglob",
              "listdir", "scandir", "realpath"}
    bad = []
    for f in sorted(CHECK.glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f_ = node.func
                name = f_.attr if isinstance(f_, ast.Attribute) else getattr(f_, "id", None)
                if (name in banned and isinstance(f_, ast.Attribute)) or name == "open":
                    bad.append(f"{f.name}:{node.lineno} calls {name}")
    assert not bad, "\n".join(bad)


def _config(root: str, read_file=None) -> PackConfig:
    return PackConfig("t", "1.0.0", "t", "1", Window(None, None), RecordShape("id", "month", "lines", "id", "code", "date"), "warn", root, read_file=read_file)


SOURCE = 'source S { title "s" citation "1 FR 1" kind regulation }\n'
SCHEMA = {"type": "object", "properties": {"lines": {"type": "array", "items": {"type": "object"}}}}


@pytest.mark.parametrize("written", ["../x.json", "/etc/passwd", "a/../../x.json", ".", ""])
def test_a_facts_file_outside_the_pack_is_refused_by_its_text(written, monkeypatch):
    asked = []
    monkeypatch.setattr(py_builtins, "open", lambda *a, **k: pytest.fail("the checker opened a file"))
    mod, _ = parse(SOURCE + f'test "t" {{\n  facts file "{written}"\n  expect rejected\n}}\n', "p.policy")
    pack, diags = check([mod], _config("/nowhere/pack", asked.append), SCHEMA)
    assert pack is None and [d.code for d in diags] == ["E603"] and not asked
    assert "outside the pack folder" in diags[0].message


def test_a_facts_file_is_read_only_through_the_injected_reader():
    asked = []

    def reader(path):
        asked.append(Path(path))
        return b'{"lines": [{"id": 1}]}\n'

    mod, _ = parse(SOURCE + 'test "t" {\n  facts file "tests/../facts/one.json"\n  expect rejected\n}\n', "p.policy")
    pack, diags = check([mod], _config("/nowhere/pack", reader), SCHEMA)
    assert [d.code for d in diags if d.severity == "error"] == []
    assert asked == [Path("/nowhere/pack/facts/one.json")]
    assert pack.tests[0].records == ({"lines": [{"id": 1}]},)
    pack, diags = check([mod], _config("/nowhere/pack", None), SCHEMA)
    assert [d.code for d in diags] == ["E603"] and "no pack folder" in diags[0].message


def test_the_library_pack_checks_the_same_through_the_package():
    loaded = load(LIBRARY)
    assert loaded.ok, loaded.diagnostics
    assert loaded.pack.rules and loaded.pack.tests
