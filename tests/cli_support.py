"""Helpers for the CLI tests: run a command with CliRunner, make facts files."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from rulecite.cli.main import cli

TESTS = Path(__file__).parent
LIBRARY = TESTS / "packs" / "library"
BRANCH = TESTS / "packs" / "library-branch"
ROOT = TESTS.parent
CMS = ROOT / "packs" / "cms-care-management"
EXAMPLES = ROOT / "examples" / "patient-months.jsonl"


def run(args, input=None, env=None, color=False):
    """Invoke ``rulecite ARGS``; the result has .exit_code, .stdout, .stderr, .output."""
    runner = CliRunner()
    return runner.invoke(cli, [str(a) for a in args], input=input, env=env, color=color, prog_name="rulecite")


def assert_bad_input(result, *words):
    """Exit 2, a readable message naming ``words``, and no traceback anywhere."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    text = result.output.lower()
    for w in words:
        assert w.lower() in text, (w, result.output)


def library_records() -> list:
    """Every record of the library pack's tests, in test order (history months first)."""
    from rulecite.interpreter import load_pack

    pack = load_pack(LIBRARY)
    return [dict(r) for t in pack.model.tests for r in t.records]


def write_jsonl(path: Path, records, extra_lines=()) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
        for line in extra_lines:
            f.write(line + "\n")
    return path


def cms_ready() -> bool:
    """The CMS pack and its example facts exist and the pack loads."""
    if not (CMS / "pack.toml").is_file() or not EXAMPLES.is_file():
        return False
    from rulecite.policy_lang import load

    return load(CMS).ok
