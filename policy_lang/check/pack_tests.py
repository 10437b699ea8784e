"""The pack-tests stage: each ``test`` declaration's facts and expectations.

Takes the ``Checker`` (``checker.py``) after the rules are final; gives
``ck.tests`` (``PackTest`` values the test runner executes) and a diagnostic for
each problem (``E6xx``). A ``facts file`` is read through ``PackConfig.read_file``,
the callable the loader provides (regular files inside the pack folder, capped);
this module opens no file and touches no file system: the path is checked by its
text (no absolute path, no ``..`` out of the pack), and the reader refuses the rest
(a symlink out of the folder, a FIFO, a file too large).
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePath

from rulecite.policy_lang.check.rules import BUILTIN_RULES
from rulecite.policy_lang.errors import did_you_mean
from rulecite.policy_lang.model import PackTest
from rulecite.policy_lang.syntax import nodes as ast


def tests(ck) -> None:
    rule_ids = {r.id for r in ck.rules} | set(BUILTIN_RULES)
    out = list(ck.parent.tests) if ck.parent else []  # each keeps the name of its pack
    seen: dict = {}
    for m, d in ck.decls(ast.TestDecl):
        if d.name in seen:
            ck.err("E207", f"test \"{d.name}\" is declared twice (first at {seen[d.name]})", d.span)
        seen[d.name] = d.span
        facts = d.facts
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
