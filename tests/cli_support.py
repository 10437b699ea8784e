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


# The official SARIF 2.1.0 schema (rtm.5, the OASIS release), as shipped in the npm
# package @microsoft/jest-sarif (lib/schemas/sarif-2.1.0-rtm.5.json), copied unchanged.
SARIF_SCHEMA = TESTS / "data" / "sarif-2.1.0.json"


def sarif_errors(doc) -> list:
    """What the official SARIF 2.1.0 schema finds wrong with ``doc``."""
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
