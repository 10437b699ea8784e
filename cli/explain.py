"""``rulecite explain PACK FACTS --record ID`` (or ``PACK --test NAME``, the record of one of
the pack's own tests): the trace of one record, as a readable tree."""

from __future__ import annotations

import json

import click
from rulecite.cli._errors import EXIT_OK, BadInput, short
from rulecite.cli._facts import find_record, line_id, rejected
from rulecite.cli._options import as_of_option, pack_argument
from rulecite.cli._output import stdout_text, write_json
from rulecite.cli._packs import load_rulepack
from rulecite.interpreter.reports.citations import citation_text
from rulecite.interpreter.reports.markup import plain_text


@click.command("explain", short_help="Explain one record's verdicts as a tree.")
@pack_argument
@click.argument("facts", metavar="[FACTS]", required=False)
@click.option("--record", "record_id", metavar="ID", default=None,
              help="The record's id (the pack's [record] id); needed with FACTS.")
@click.option("--month", metavar="PERIOD", default=None,
              help="Which period of that id (default: the latest in FACTS); earlier ones are its history.")
@click.option("--test", "test_name", metavar="NAME", default=None,
              help="Instead of FACTS: the record of the pack's test NAME (its last record; the ones before "
                   "are its history; its as_of unless --as-of is given). `rulecite test` prints this "
                   "command for each failing test.")
@click.option("--line", "line", metavar="N", default=None, help="Only this claim line.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--full", is_flag=True, help="Show the values under the conditions of rules that passed too.")
@as_of_option
def command(pack, facts, record_id, month, test_name, line, fmt, as_of, full) -> int:
    """Explain one record: every rule considered, why it applied or not, the values
    it read, the outcome, and for each denial what would make it pass.

    The record is one of FACTS (`--record ID`, and `--month`), or the record of one
    of the pack's own tests (`--test NAME`)."""
    from rulecite.interpreter.api import explain

    rp = load_rulepack(pack)
    shape = rp.model.shape
    if test_name is not None:
        if facts is not None or record_id is not None or month is not None:
            raise BadInput("--test explains the record of a pack test: give no FACTS, --record or --month with it")
        test = _pack_test(rp, test_name)
        as_of = as_of if as_of is not None else test.as_of
        record, history = dict(test.records[-1]), _test_history(rp, test.records, as_of)
        record_id = record.get(shape.id)
    else:
        if facts is None:
            raise BadInput("give FACTS and --record ID, or --test NAME (a test of the pack)")
        if record_id is None:
            raise BadInput("missing option --record ID: which record of FACTS to explain",
                           (f"the record's id is its `{shape.id}` field",))
        found = find_record(facts, rp, record_id, month, as_of)  # as `eval` reads it: its group's history
        if found.rejection is not None:
            raise rejected(shape, record_id, found)
        record, history = found.record, found.history
    lid = line_id(line)
    trace = explain(rp, record, lid, as_of=as_of, history=history)
    if "rejected" in trace:
        r = trace["rejected"]
        raise BadInput(f"{shape.id} `{record_id}` cannot be evaluated: rejected at {r['path']}: {r['reason']}")
    out = stdout_text()
    if fmt == "json":
        click.echo(write_json(trace), file=out, nl=False)
    else:
        Tree(rp.model, out, full).render(trace)
    return EXIT_OK


def _test_history(rp, records, as_of) -> list:
    """The history a pack test's last record has when the test runs (``evaluate`` over
    its records): the earlier periods of the same subject, never another subject's."""
    from rulecite.interpreter import Result, evaluate

    group: list = []
    for r in evaluate(rp, [dict(x) for x in records], as_of=as_of):
        if not isinstance(r, Result):
            continue
        if group and r.id != group[-1].id:
            group = []
        group.append(r)
    if not group or group[-1].input_line != len(records):  # the last record is rejected: no history helps
        return []
    last = group[-1]
    return [g.record for g in group[:-1] if g.period < last.period]


def _pack_test(rp, name: str):
    """The pack's test called ``name`` (its own before one of a pack it extends)."""
    tests = sorted(rp.model.tests, key=lambda t: t.pack != rp.model.name)
    for t in tests:
        if t.name == name:
            return t
    from rulecite.policy_lang import did_you_mean

    raise BadInput(f"{rp.model.name} has no test named {short(name)!r}",
                   did_you_mean(name, [t.name for t in tests])
                   or ("`rulecite test PACK -k TEXT` runs the tests whose name holds TEXT",))


def _value(v) -> str:
    text = plain_text(json.dumps(v, ensure_ascii=False, default=str))
    return text if len(text) <= 100 else text[:97] + "..."


class Tree:
    """Renders an ``explain()`` dict as indented text."""

    def __init__(self, model, out, full: bool = False):
        self.model = model
        self.full = full
        self.shape = model.shape
        self.out = out
        self.s = click.style  # click.echo drops the colours off a terminal and with NO_COLOR

    def w(self, text=""):
        click.echo(text, file=self.out)

    def render(self, t: dict):
        shape = self.shape
        pk = t["pack"]
        p = plain_text  # ids, periods, line ids, codes and messages come from the record
        self.w(self.s(f"{shape.id} {p(t[shape.id])}", bold=True) + f"  {shape.period} {p(t[shape.period])}")
        clock = f", as of {t['as_of']}" if t.get("as_of") else ""
        self.w(f"pack {pk['name']} {pk['version']} (lock {pk['sha256'][:12]}){clock}")
        self.w()
        self.w(self.s("Outcome", bold=True))
        for v in t["lines"]:
            verdict = self.s("DENY", fg="red", bold=True) if v["verdict"] == "deny" else self.s("allow", fg="green")
            rules = (" by " + ", ".join(v["rules"])) if v.get("rules") else ""
            warns = ("; warnings: " + ", ".join(v["warnings"])) if v.get("warnings") else ""
            self.w(f"  line {p(v['line'])} {p(v['code'])}: {verdict}{rules}{warns}")
        if not t["lines"]:
            self.w("  no claim lines")
        by_line: dict = {}
        for node in t["rules"]:
            by_line.setdefault(node["line"], []).append(node)
        codes = {v["line"]: v["code"] for v in t["lines"]}
        for lid, nodes in by_line.items():
            self.w()
            if lid is None:
                self.w(self.s("Whole-record rules", bold=True) + f" (service date {nodes[0]['service_date']})")
            else:
                self.w(self.s(f"Line {p(lid)} {p(codes.get(lid, ''))}", bold=True)
                       + f" (service date {nodes[0]['service_date']})")
            self._rules(nodes)
        catalog = [f for f in t["findings"] if f["rule"].startswith("catalog.")]
        for f in catalog:
            self.w()
            self.w(self.s(f"Catalog: {f['rule']}", bold=True) + f" (line {p(f['line'])})")
            self.w(f"  {p(f['message'])}")
            for c in f["citations"]:
                self.w(f"  cite {_cite(c)}")
        if t["suggestions"]:
            self.w()
            self.w(self.s("Suggestions", bold=True))
            for sg in t["suggestions"]:
                units = f" x{sg['units']}" if sg.get("units") is not None else ""
                self.w(f"  {p(sg['code'])}{units}: {p(sg['reason'])}")

    def _rules(self, nodes):
        rank = {"deny": 0, "warn": 1, "info": 2}
        applied = sorted((n for n in nodes if n.get("applies")), key=lambda n: rank.get(n["outcome"], 3))
        skipped = [n for n in nodes if n.get("in_window") and not n.get("applies")]
        idle = [n for n in nodes if not n.get("in_window")]
        for n in applied:
            self._applied(n)
        if skipped:
            self.w(self.s(f"  not applicable ({len(skipped)}):", dim=True))
            for n in skipped:
                self.w(self.s(f"    {n['rule']}: {n.get('why', '')}", dim=True))
        if idle:
            self.w(self.s(f"  not in force on this date ({len(idle)}):", dim=True))
            for n in idle:
                self.w(self.s(f"    {n['rule']} v{n['version']}: {n.get('why', '')}", dim=True))

    def _applied(self, n):
        rule = next((r for r in self.model.rules if r.id == n["rule"] and r.version == n["version"]), None)
        mode = f"{rule.severity} {rule.mode}" if rule else n["severity"]
        outcome = n["outcome"]
        tag = {"deny": self.s("[DENY]", fg="red", bold=True), "warn": self.s("[WARN]", fg="yellow", bold=True),
               "info": self.s("[INFO]", fg="blue"), "pass": self.s("[pass]", fg="green")}.get(outcome, f"[{outcome}]")
        self.w(f"  {tag} {n['rule']} v{n['version']}: {n['title']}")
        if "where" in n:
            self.w(f"    applies: {n['where']['expr']} = {_value(n['where']['value'])}")
        for name, value in (n.get("lets") or {}).items():
            self.w(f"    let {name} = {_value(value)}")
        cond = n["condition"]
        self.w(f"    {mode}: {cond['expr']}  ->  {_value(cond['value'])}")
        if n.get("fires") or self.full:
            for kid in cond.get("children", []):
                self._expr(kid, "      ")
        if n.get("fires"):
            label = "to pass" if outcome == "deny" else "to clear"
            for fix in n.get("fix") or []:
                self.w(f"    {self.s(label, bold=True)}: {plain_text(fix)}")
            if rule is not None:
                for c in rule.citations:
                    self.w(f"    cite {_cite(c.to_dict())}")

    def _expr(self, node, indent):
        extra = " (absent)" if node.get("absent") else ""
        if "items" in node:
            extra += f" over {node['items']} item(s)"
        self.w(f"{indent}- {node['expr']} = {_value(node['value'])}{extra}")
        for kid in node.get("children", []):
            self._expr(kid, indent + "  ")


def _cite(c: dict) -> str:
    return citation_text(c) + (f"  <{c['url']}>" if c.get("url") else "")
