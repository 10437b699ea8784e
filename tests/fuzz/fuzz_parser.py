"""Fuzz the policy language: parser, checker, compiler and formatter.

Run it with ``tests/fuzz/run_fuzz.py --target parser`` (or directly, with libFuzzer
flags: ``python tests/fuzz/fuzz_parser.py CORPUS_DIR -max_total_time=60``).

One input is a ``.policy`` file's bytes. :func:`check_parser_input` is the whole
check; ``tests/test_fuzz_regressions.py`` replays saved inputs through it, so this
module imports atheris only when run as a script.

What counts as a finding (an exception escaping ``check_parser_input``):

- ``parse`` raising anything, or returning a diagnostic with an unknown code, or no
  module and no error;
- ``check`` (with the library test pack's files around the fuzzed one, as the pack
  loader would call it) raising, or its diagnostics not rendering;
- a checked pack failing to compile, or its evaluation of a good record and of the
  fuzzed file's own test facts raising or not giving one output per record;
- the formatter: a cleanly parsed text whose formatted form does not parse, parses to
  a different module, loses comments, or formats differently a second time.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LIBRARY = ROOT / "tests" / "packs" / "library"
# The fuzzed text is checked as one more file of the library pack (never written there).
FUZZ_FILE = str(LIBRARY / "fuzz.policy")
MAX_INPUT = 64 * 1024

GOOD_RECORD = {"member_id": "M1", "month": "2025-03", "member": {"age": 40},
               "loans": [{"line": 1, "item": "BOOK", "units": 2, "days": 3, "date": "2025-03-02"}]}


class Finding(AssertionError):
    """A broken guarantee (as opposed to an exception escaping the code under test)."""


@lru_cache(maxsize=1)
def _library():
    """The library pack's own inputs to the checker, read once: config, schema, modules, texts."""
    from rulecite.policy_lang import load, parse
    from rulecite.policy_lang.files import PackFiles
    from rulecite.policy_lang.load import _read_schema, _read_toml

    loaded = load(LIBRARY)
    assert loaded.ok, "the library test pack must load"
    diags: list = []
    texts: dict = {}
    cfg, extends, _ = _read_toml(LIBRARY / "pack.toml", LIBRARY, diags, texts)
    schema = _read_schema(LIBRARY, None, diags, texts, PackFiles())
    assert cfg is not None and schema is not None and not extends and not diags, diags
    modules = []
    for f in sorted(LIBRARY.rglob("*.policy"), key=lambda p: p.relative_to(LIBRARY).as_posix()):
        text = f.read_text(encoding="utf-8")
        texts[str(f)] = text
        module, errs = parse(text, str(f))
        assert module is not None and not errs, errs
        modules.append(module)
    return cfg, schema, tuple(modules), texts


def decode(data: bytes) -> str:
    """The text the fuzzer means: UTF-8 when the bytes are UTF-8 (what the pack loader
    reads), else with lone surrogates kept (what an API caller can pass to ``parse``),
    else with replacement characters."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("utf-8", errors="surrogatepass")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace")


def _check_diagnostics(diags, texts: dict, where: str) -> None:
    from rulecite.policy_lang import CODES, Diagnostic, render_text

    if not isinstance(diags, list):
        raise Finding(f"{where}: diagnostics are a {type(diags).__name__}, not a list")
    for d in diags:
        if not isinstance(d, Diagnostic):
            raise Finding(f"{where}: {d!r} is not a Diagnostic")
        if d.code not in CODES:
            raise Finding(f"{where}: unknown diagnostic code {d.code!r}: {d.message}")
        json.dumps(d.to_dict())
    render_text(diags, texts)


def check_text(text: str) -> None:
    """Every guarantee the language makes about one file's text (see the module doc)."""
    import attrs

    from rulecite.interpreter import evaluate
    from rulecite.interpreter.api import RulePack
    from rulecite.interpreter.tools.packtest import run_case
    from rulecite.policy_lang import check, format_module, format_text, parse

    module, diags = parse(text, FUZZ_FILE)
    _check_diagnostics(diags, {FUZZ_FILE: text}, "parse")
    errors = [d for d in diags if d.severity == "error"]
    if module is None:
        if not errors:
            raise Finding("parse returned no module and no error")
        return
    if errors:
        return  # the loader stops here too

    # ---- the formatter: same meaning, comments kept, idempotent
    formatted, fdiags = format_text(text, FUZZ_FILE)
    if formatted is None:
        raise Finding(f"format_text refused a text that parses cleanly: {fdiags}")
    again, adiags = parse(formatted, FUZZ_FILE)
    if again is None or any(d.severity == "error" for d in adiags):
        raise Finding(f"the formatted text does not parse: {[d.to_dict() for d in adiags][:3]}\n"
                      f"--- formatted:\n{formatted}")
    if again != module:
        raise Finding(f"the formatted text parses to a different module\n--- formatted:\n{formatted}")
    if sorted(c.text for c in again.comments) != sorted(c.text for c in module.comments):
        raise Finding(f"the formatter lost or changed comments\n--- formatted:\n{formatted}")
    twice = format_module(again)
    if twice != formatted:
        raise Finding(f"formatting is not idempotent\n--- once:\n{formatted}\n--- twice:\n{twice}")

    # ---- the checker, with the library pack's files around this one (as `load` calls it)
    cfg0, schema, lib_modules, lib_texts = _library()
    cfg = attrs.evolve(cfg0, explicit=dict(cfg0.explicit))
    texts = {**lib_texts, FUZZ_FILE: text}
    pack, cdiags = check(list(lib_modules) + [module], cfg, schema, None, texts)
    _check_diagnostics(cdiags, texts, "check")
    if pack is None or any(d.severity == "error" for d in cdiags):
        return

    # ---- a pack that checks compiles, evaluates and runs its own tests
    pack = attrs.evolve(pack, lock="0" * 64)
    rp = RulePack(pack, [d for d in cdiags if d.severity == "warning"])
    own = [t for t in pack.tests if t.file == FUZZ_FILE]
    records = [GOOD_RECORD] + [dict(r) for t in own[:4] for r in t.records[:3]]
    out = list(evaluate(rp, records))
    if len(out) != len(records):
        raise Finding(f"evaluate gave {len(out)} outputs for {len(records)} records")
    for n, o in enumerate(out, start=1):
        if o.input_line != n:
            raise Finding(f"output {n} is for input line {o.input_line}")
        json.loads(o.to_json())
    for t in own[:4]:
        run_case(rp, t)


def check_parser_input(data: bytes) -> None:
    """The harness's check of one fuzz input (shared with the regression tests)."""
    if len(data) > MAX_INPUT:
        data = data[:MAX_INPUT]
    check_text(decode(data))


def main(argv=None) -> None:
    import atheris

    with atheris.instrument_imports(include=["rulecite"]):
        import rulecite.interpreter  # noqa: F401
        import rulecite.policy_lang  # noqa: F401
    _library()  # warm: read and parse the library pack once, outside the timed inputs

    def one_input(data: bytes) -> None:
        check_parser_input(data)

    atheris.Setup(list(argv if argv is not None else sys.argv), one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
