"""The pack-tests stage: each ``test`` declaration's facts and expectations.

Takes the ``Checker`` (``checker.py``) after the rules are final; gives
``ck.tests`` (``PackTest`` values the test runner executes) and a diagnostic for
each problem (``E6xx``). A ``facts file`` is read through ``PackConfig.read_file``,
the callable the loader provides (regular files inside the pack folder, capped);
this module opens no file and touches no file system: the path is checked by its
text (no absolute path, no ``..`` out of the pack), and the reader refuses the rest
(a symlink out of the folder, a FIFO, a file too large).

A test's ``facts from NAME {...}`` starts from the pack's ``base NAME`` record and lays
the object written over it (``merge``: deep for objects; lists and other values replace;
``null`` removes a key); an unknown base is E604 with did-you-mean. The merged record is
what the test runner evaluates.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePath

import attrs

from rulecite.policy_lang.check.rules import BUILTIN_RULES
from rulecite.policy_lang.errors import did_you_mean
from rulecite.policy_lang.model import PackTest
from rulecite.policy_lang.syntax import nodes as ast


def merge(base, changes):
    """``base`` with ``changes`` laid over it, deeply: objects merge key by key (recursively);
    any other value (a list, text, a number) replaces the base's; ``null`` removes the key.
    Neither argument is changed."""
    if not (isinstance(base, dict) and isinstance(changes, dict)):
        return changes
    out = dict(base)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge(base.get(k), v) if isinstance(v, dict) else v
    return out


def facts_span(ck, m, d):
    """The span of a test's `facts` line (the whole test when it cannot be told)."""
    line = next((ln for key, ln, _ in d.layout if key == "facts"), None)
    text = ck.lines(m.file)[line - 1] if line and line <= len(ck.lines(m.file)) else ""
    if not text.strip():
        return d.span
    col = len(text) - len(text.lstrip()) + 1
    return attrs.evolve(d.span, line=line, column=col, end_line=line, end_column=len(text.rstrip()) + 1)


def bases(ck) -> dict:
    """The pack's ``base`` records, by name (E207 for a name declared twice)."""
    out: dict = {}
    for m, d in ck.decls(ast.BaseDecl):
        if d.name in out:
            ck.err("E207", f"base `{d.name}` is declared twice (first at {out[d.name].span})", d.span,
                   ["rename one base, or remove the duplicate"])
            continue
        out[d.name] = d
    return out


def tests(ck) -> None:
    rule_ids = {r.id for r in ck.rules} | set(BUILTIN_RULES)
    out = list(ck.parent.tests) if ck.parent else []  # each keeps the name of its pack
    seen: dict = {}
    known_bases = bases(ck)
    used_bases: set = set()
    for m, d in ck.decls(ast.TestDecl):
        if d.name in seen:
            ck.err("E207", f"test \"{d.name}\" is declared twice (first at {seen[d.name]})", d.span)
        seen[d.name] = d.span
        facts = d.facts
        if d.base is not None:
            base = known_bases.get(d.base)
            if base is None:
                ck.err("E604", f"test \"{d.name}\" starts from unknown base `{d.base}`", facts_span(ck, m, d),
                       did_you_mean(d.base, known_bases) or
                       ([f"bases: {', '.join(sorted(known_bases))}"] if known_bases else
                        ["declare it: `base NAME { ...JSON record... }`"]))
                continue
            used_bases.add(d.base)
            facts = merge(base.facts, d.facts or {})
        if d.facts_file is not None:
            facts = read_facts_file(ck, d)
            if facts is None:
                continue
        if facts is None:
            ck.err("E602", f"test \"{d.name}\" has no `facts`", d.span)
            continue
        records = facts if isinstance(facts, list) else [facts]
        if not records or not all(isinstance(r, dict) for r in records):
            ck.err("E602", f"test \"{d.name}\": facts must be a record or a list of records", d.span)
            continue
        lines = records[-1].get(ck.cfg.shape.lines)
        line_ids = {ln.get(ck.cfg.shape.line_id) for ln in lines if isinstance(ln, dict)} \
            if isinstance(lines, list) else set()
        for x in d.expectations:
            if x.line is not None and x.line not in line_ids:
                ck.err("E600", f"test \"{d.name}\" expects line {x.line}, but its facts have "
                       f"{'lines ' + ', '.join(map(str, sorted(i for i in line_ids if isinstance(i, int)))) if line_ids else 'no lines'}",
                       x.span)
            for rid in x.rules:
                if rid not in rule_ids:
                    ck.err("E601", f"test \"{d.name}\" expects unknown rule `{rid}`", x.span,
                           did_you_mean(rid, rule_ids))
            if x.code is not None and ck.codes and x.code not in ck.codes:
                ck.err("E202", f"test \"{d.name}\" expects a suggestion of unknown code `{x.code}`", x.span,
                       did_you_mean(x.code, ck.codes))
        out.append(PackTest(d.name, tuple(records), d.as_of, d.expectations, ck.cfg.name, m.file, d.span))
    for name, d in sorted(known_bases.items()):
        if name not in used_bases:
            ck.err("W701", f"base `{name}` is never used", d.span, ["start a test from it: `facts from "
                   f"{name} {{ ... }}`, or remove it"], severity="warning")
    ck.tests = out


def read_facts_file(ck, d):
    """The facts of a ``facts file`` test, read through ``ck.cfg.read_file``, or None
    (with an E603) when there are none."""
    written = os.path.normpath(d.facts_file)
    if PurePath(d.facts_file).anchor or written in (os.curdir, os.pardir) or written.startswith(os.pardir + os.sep):
        ck.err("E603", f"facts file `{d.facts_file}` is outside the pack folder", d.span)
        return None
    path = Path(ck.cfg.root) / written
    if ck.cfg.read_file is None:
        ck.err("E603", f"facts file `{d.facts_file}` cannot be read here (no pack folder)", d.span)
        return None
    try:
        text = ck.cfg.read_file(path).decode("utf-8")
    except UnicodeDecodeError as e:
        ck.err("E603", f"cannot read facts file `{d.facts_file}`: {e.__class__.__name__}", d.span)
        return None
    except OSError as e:  # files.UnsafeFile says why: outside the folder, not a regular file, too large
        ck.err("E603", f"facts file `{d.facts_file}` was not read: {e}", d.span)
        return None
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)
    except ValueError as e:
        ck.err("E603", f"facts file `{d.facts_file}` is not JSON: {e}", d.span)
        return None
