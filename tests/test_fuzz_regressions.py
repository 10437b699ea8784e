"""Replay the fuzzers' inputs: every saved crash and every seed, through the same checks
as the atheris harnesses (``tests/fuzz/fuzz_parser.py``, ``tests/fuzz/fuzz_evaluate.py``).

A crash found by ``make fuzz`` is copied by hand into ``tests/fuzz/crashes/<target>/``
once it is fixed; this file keeps it fixed. The seed corpora make sure the checks run on
real inputs even when no crash was ever saved. Atheris is not needed here.
"""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from .fuzz.fuzz_evaluate import check_evaluate_input, check_records
from .fuzz.fuzz_parser import check_parser_input

FUZZ = Path(__file__).parent / "fuzz"


def _inputs(target: str) -> list:
    files = []
    for kind in ("crashes", "corpus"):
        folder = FUZZ / kind / target
        files += sorted(p for p in folder.iterdir()
                        if p.is_file() and not p.name.startswith((".", "README")))
    return files


PARSER = _inputs("parser")
EVALUATE = _inputs("evaluate")


def _id(p: Path) -> str:
    return f"{p.parent.parent.name}/{p.name}"


def test_there_are_inputs_to_replay():
    assert len([p for p in PARSER if p.parent.parent.name == "corpus"]) >= 5
    assert len([p for p in EVALUATE if p.parent.parent.name == "corpus"]) >= 5


@pytest.mark.parametrize("path", PARSER, ids=[_id(p) for p in PARSER])
def test_parser_input(path):
    check_parser_input(path.read_bytes())


@pytest.mark.parametrize("path", EVALUATE, ids=[_id(p) for p in EVALUATE])
def test_evaluate_input(path):
    if path.name.endswith(".records.json"):
        # Records the harness's data provider made (printed with the crash): replayed as
        # such, so the case does not depend on which provider the fuzzer had.
        check_records(json.loads(path.read_text(encoding="utf-8")))
    else:
        check_evaluate_input(path.read_bytes())


def test_the_harnesses_import_without_atheris():
    code = ("import sys; sys.modules['atheris'] = None; sys.path.insert(0, sys.argv[1]); "
            "import fuzz_parser, fuzz_evaluate; "
            "fuzz_evaluate.check_evaluate_input(b'{}\\n'); fuzz_parser.check_parser_input(b'let x = 1')")
    proc = subprocess.run([sys.executable, "-c", code, str(FUZZ)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_the_runner_exits_2_without_atheris(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "atheris", None)
    monkeypatch.setattr(sys, "argv", ["run_fuzz.py", "--seconds", "1"])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(FUZZ / "run_fuzz.py"), run_name="__main__")
    assert info.value.code == 2
    assert "atheris is not installed" in capsys.readouterr().err
