"""The citations stage: what each rule and code rests on, and whether its dates agree.

Runs after the timeline (windows are final). For the pack's own declarations:

- every source has a kind from the fixed set (``policy_lang.authority``): a kind outside
  it is an error (``E213``, with "did you mean"), a missing kind a warning (``W704``);
- every rule version cites at least one primary source (statute, regulation, Final Rule
  or correction, manual, guidance, code descriptor): a warning (``W702``), or an error
  when the pack's ``[citations] require_primary = true``;
- no rule version or code is in force before a source it cites: before a Final Rule (or
  correction) took effect, or before any source was published (``W703``, with the
  dates). A source later than the rule or code it supports (a manual or booklet that
  restates an older policy; a later rule that amended, extended or ended it) is cited as
  ``cite X restates``, and its date is then not compared: that is how the checker tells
  a later source from a citation of the wrong rule. A Final Rule that took effect the
  day after a rule or code ended is the one that ended it, and needs no marker.

A rule or code without a start date is in force from the start of the pack's coverage.
Reads no file.
"""

from __future__ import annotations

import datetime as _dt

from rulecite.policy_lang.authority import KINDS, TIERS, has_primary
from rulecite.policy_lang.errors import did_you_mean

RULE_KINDS = ("final_rule", "correction")


def _kinds_hint() -> str:
    return "; ".join(f"{tier}: {', '.join(kinds)}" for tier, kinds in TIERS.items())


def source_kinds(ck) -> None:
    for name, s in sorted(ck.sources.items()):
        if s.pack != ck.cfg.name:
            continue
        if not s.kind:
            ck.err("W704", f"source `{name}` has no `kind`: it counts as no authority (not primary)", s.span,
                   [f"the kinds are {_kinds_hint()}"], severity="warning")
        elif s.kind not in KINDS:
            ck.err("E213", f"source `{name}` has kind `{s.kind}`, which is not a source kind", s.span,
                   [*did_you_mean(s.kind, KINDS), f"the kinds are {_kinds_hint()}"])


def _start(ck, window):
    return window.start or ck.cfg.coverage.start


def _too_early(ck, what: str, start, c, end=None):
    """A diagnostic text when ``what`` (in force from ``start``) predates source ``c``.
    A Final Rule that takes effect the day after ``end`` is the rule that ended it: fine."""
    s = c.source
    if c.restates or start is None:
        return None
    if end is not None and s.effective is not None and end < _dt.date.max \
            and s.effective == end + _dt.timedelta(days=1):
        return None
    if s.kind in RULE_KINDS and s.effective and start < s.effective:
        return (f"{what} is in force from {start.isoformat()}, before `{s.name}` took effect "
                f"({s.effective.isoformat()})")
    if s.published and start < s.published:
        return (f"{what} is in force from {start.isoformat()}, before `{s.name}` was published "
                f"({s.published.isoformat()})")
    return None


def _hint(start, name: str) -> list:
    return [f"cite the source in force on {start.isoformat()}, or start later; if `{name}` restates an older "
            f"policy, write `cite {name} restates`"]


def citation_dates(ck) -> None:
    require = bool(getattr(ck.cfg, "require_primary", False))
    versions: dict = {}
    for r in ck.rules:
        versions[r.id] = versions.get(r.id, 0) + 1
    for r in ck.rules:
        if r.pack != ck.cfg.name:
            continue
        what = f"rule `{r.id}`" + (f" (version {r.version})" if versions[r.id] > 1 else "")
        if r.citations and not has_primary(r.citations):  # no citation at all is E108 already
            ck.err("W702" if not require else "E214",
                   f"{what} cites no primary source (a statute, regulation, final rule, correction, manual, "
                   "guidance or code descriptor)", r.span,
                   ["cite the rule or document that established the policy; secondary sources may follow it"],
                   severity="error" if require else "warning")
        start = _start(ck, r.window)
        seen = set()
        for c in r.citations:
            text = _too_early(ck, what, start, c, r.window.end)
            if text and c.source.name not in seen:
                seen.add(c.source.name)
                ck.err("W703", text, r.span, _hint(start, c.source.name), severity="warning")
    for name, code in sorted(ck.codes.items()):
        if code.pack != ck.cfg.name:
            continue
        start = _start(ck, code.window)
        seen = set()
        for c in code.citations:
            text = _too_early(ck, f"code `{name}`", start, c, code.window.end)
            if text and c.source.name not in seen:
                seen.add(c.source.name)
                ck.err("W703", text, code.span, _hint(start, c.source.name), severity="warning")

