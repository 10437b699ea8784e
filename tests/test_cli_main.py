"""The command group: help for every command, the version, exit codes, colours, and
that no input whatever gets a Python traceback to the user."""

from __future__ import annotations

import json

import pytest
from rulecite import LANGUAGE_VERSION, __version__
from rulecite.cli.main import cli

from tests.cli_support import LIBRARY, assert_bad_input, library_records, run, write_jsonl

COMMANDS = ["check", "fmt", "test", "eval", "explain", "diff", "schema", "docs", "site", "synth", "new-version",
            "evidence", "verify-log", "sources", "lsp"]


def test_every_command_is_registered():
    assert list(cli.commands) == COMMANDS


def test_group_help_documents_exit_codes():
    r = run(["--help"])
    assert r.exit_code == 0
    for code in ("0  success", "1  findings", "2  usage error or bad input", "3  internal error"):
        assert code in r.stdout
    assert "NO_COLOR" in r.stdout
    for name in COMMANDS:
        assert name in r.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_help_of_every_command(name):
    r = run([name, "--help"])
    assert r.exit_code == 0, r.output
    assert f"Usage: rulecite {name}" in r.stdout
    assert len(r.stdout.splitlines()) > 4


@pytest.mark.parametrize("name", COMMANDS)
def test_help_with_short_option(name):
    assert run([name, "-h"]).exit_code == 0


def test_version_names_rulecite_and_language():
    r = run(["--version"])
    assert r.exit_code == 0
    assert r.stdout.strip() == f"rulecite {__version__} (policy language {LANGUAGE_VERSION})"


def test_unknown_command_is_a_usage_error():
    r = run(["frobnicate"])
    assert r.exit_code == 2
    assert "No such command" in r.output


@pytest.fixture
def facts(tmp_path):
    return write_jsonl(tmp_path / "facts.jsonl", library_records())


@pytest.fixture
def broken_pack(library_copy):
    rules = library_copy / "rules.policy"
    rules.write_text(rules.read_text().replace("total_units <= 10", "total_unit <= 10"))
    return library_copy


# One bad input per command: exit 2, a clear message, no traceback.
def test_bad_input_check(tmp_path):
    assert_bad_input(run(["check", tmp_path / "nowhere"]), "no pack at")


def test_bad_input_fmt(tmp_path):
    assert_bad_input(run(["fmt", tmp_path / "missing.policy"]), "no such file")
    bad = tmp_path / "bad.policy"
    bad.write_text("rule {\n")
    assert_bad_input(run(["fmt", bad]), "bad.policy:1")


def test_bad_input_test(broken_pack):
    r = run(["test", broken_pack])
    assert_bad_input(r, "E200", "total_unit", "rulecite check")


def test_bad_input_eval(tmp_path):
    bad = tmp_path / "facts.json"
    bad.write_text("{not json")
    assert_bad_input(run(["eval", LIBRARY, bad]), "not json", "facts.json")
    assert_bad_input(run(["eval", LIBRARY, tmp_path / "none.jsonl"]), "cannot read facts file")
    assert_bad_input(run(["eval", LIBRARY, bad, "--as-of", "2026-02-30"]), "not a date")


def test_bad_input_eval_pack_with_errors(broken_pack, facts):
    assert_bad_input(run(["eval", broken_pack, facts]), "error[E200]", "did you mean")


def test_bad_input_explain(facts):
    assert_bad_input(run(["explain", LIBRARY, facts, "--record", "NOBODY"]), "no record with member_id")


def test_bad_input_diff():
    assert_bad_input(run(["diff", LIBRARY]), "give two packs")
    assert_bad_input(run(["diff", LIBRARY, "--date-a", "2025-12"]), "both --date-a and --date-b")
    assert_bad_input(run(["diff", LIBRARY, "--date-a", "12/2025", "--date-b", "2026-01"]), "not a date")


def test_bad_input_schema(tmp_path):
    assert_bad_input(run(["schema", "facts", tmp_path]), "no pack at")
    assert run(["schema", "everything"]).exit_code == 2


def test_bad_input_docs(tmp_path):
    assert_bad_input(run(["docs", tmp_path / "nowhere", "--out", tmp_path / "out"]), "no pack at")


def test_bad_input_synth(broken_pack):
    assert_bad_input(run(["synth", LIBRARY, "-5"]), "-5")
    assert_bad_input(run(["synth", broken_pack, "5"]), "E200")


def test_bad_input_new_version(library_copy):
    assert_bad_input(run(["new-version", library_copy, "--version", "next"]), "not calendar-based")
    assert_bad_input(run(["new-version", library_copy, "--version", "2025.1.0"]), "not after")


def test_bad_input_evidence(facts, tmp_path):
    assert_bad_input(run(["evidence", LIBRARY, facts, "--record", "M404", "--out", tmp_path]), "no record")


def test_bad_input_verify_log(facts, tmp_path):
    assert_bad_input(run(["verify-log", tmp_path / "no.log", LIBRARY, facts]), "cannot read decision log")


def test_a_pack_name_that_is_almost_bundled_gets_a_hint():
    r = run(["check", "cms-care-managment"])
    assert_bad_input(r, "no pack at", "did you mean `cms-care-management`")


def test_internal_error_is_a_message_and_exit_3(monkeypatch, facts):
    import rulecite.interpreter as interp

    def boom(*a, **k):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(interp, "evaluate", boom)
    r = run(["eval", LIBRARY, facts])
    assert r.exit_code == 3
    assert "internal error: RuntimeError: simulated bug" in r.stderr
    assert "--debug" in r.stderr
    assert "Traceback" not in r.output


def test_debug_lets_the_traceback_through(monkeypatch, facts):
    import rulecite.interpreter as interp

    def boom(*a, **k):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(interp, "evaluate", boom)
    r = run(["--debug", "eval", LIBRARY, facts])
    assert isinstance(r.exception, RuntimeError)


def test_colour_only_when_asked_and_never_with_no_color(facts):
    plain = run(["eval", LIBRARY, facts, "--output", "table"])
    assert "\x1b[" not in plain.output
    tty = run(["eval", LIBRARY, facts, "--output", "table"], color=True)
    assert "\x1b[" in tty.stdout
    no_color = run(["eval", LIBRARY, facts, "--output", "table"], color=True, env={"NO_COLOR": "1"})
    assert "\x1b[" not in no_color.output
    assert no_color.stdout == plain.stdout


def test_machine_formats_carry_no_decoration_even_on_a_terminal(facts):
    r = run(["eval", LIBRARY, facts], color=True)
    for line in r.stdout.splitlines():
        json.loads(line)
    assert "\x1b[" not in r.stdout
    r = run(["check", LIBRARY, "--format", "json"], color=True)
    json.loads(r.stdout)
    assert "\x1b[" not in r.stdout


def test_hostile_arguments_never_trace(tmp_path):
    weird = ["\x00", "../../../../etc/passwd", "-", "a" * 5000, "💥", "{}", "[]"]
    for w in weird:
        for args in (["check", w], ["eval", LIBRARY, w], ["explain", LIBRARY, w, "--record", w],
                     ["synth", w, "3"], ["schema", "facts", w], ["diff", w, w], ["fmt", w]):
            r = run(args, input="")
            assert r.exit_code in (0, 1, 2), (args, r.exit_code, r.output)
            assert "Traceback" not in r.output
            assert r.exception is None or isinstance(r.exception, SystemExit), (args, repr(r.exception))
