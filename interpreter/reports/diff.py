"""A ``PackDiff`` (``rulecite diff``, ``rulecite.policy_lang.diff``) as text for a terminal
and as Markdown for a page: every string from the packs escaped through ``markup``, every
citation behind a changed value (a dated parameter's, on both sides) written by the one
formatter (``citations``)."""

from __future__ import annotations

from rulecite.interpreter.reports.citations import citation_markdown, citation_text
from rulecite.interpreter.reports.markup import md_text, plain_text
from rulecite.policy_lang.diff import PackDiff

_SIGN = {"added": "+", "removed": "-", "changed": "~", "superseded": ">", "retired": "x", "ended": "x",
         "replaced": ">", "effective": "*"}
_TITLES = {"pack": "Pack settings", "rules": "Rules", "parameters": "Dated parameters",
           "definitions": "Definitions", "codes": "Codes", "sets": "Sets", "derived": "Derived values",
           "sources": "Sources"}


def _counts(items) -> str:
    counts: dict = {}
    for i in items:
        counts[i.kind] = counts.get(i.kind, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def _headline(d: PackDiff) -> str:
    if d.mode == "dates":
        return f"{d.new.name} {d.new.version}: service date {d.old.date} -> {d.new.date}"
    return f"{d.old.name} {d.old.version} -> {d.new.name} {d.new.version}"


def render_text(d: PackDiff) -> str:
    lines = [f"rulecite diff: {_headline(d)}"]
    if d.empty:
        lines.append("no differences")
    for section in d.SECTIONS:
        items = getattr(d, section)
        if not items:
            continue
        lines.append("")
        lines.append(f"{_TITLES[section]}: {_counts(items)}")
        t = plain_text  # names, titles and values come from the packs
        for i in items:
            title = f"  \"{t(i.title)}\"" if i.title else ""
            lines.append(f"  {_SIGN.get(i.kind, '?')} {i.kind:<10} {t(i.name)}{title}")
            if i.note:
                lines.append(f"      {t(i.note)}")
            for c in i.changes:
                lines.append(f"      {t(c.field)}:")
                lines.append(f"        - {t(c.before) if c.before is not None else '(none)'}")
                lines += [f"            cites {t(citation_text(x.to_dict()))}" for x in c.cites_before]
                lines.append(f"        + {t(c.after) if c.after is not None else '(none)'}")
                lines += [f"            cites {t(citation_text(x.to_dict()))}" for x in c.cites_after]
    return "\n".join(lines) + "\n"


def render_markdown(d: PackDiff) -> str:
    e = md_text
    out = [f"# What changed: {e(_headline(d)).replace(' -&gt; ', ' → ')}", ""]
    out.append(f"- Old: {e(d.old)} (lock `{d.old.lock[:12]}`)")
    out.append(f"- New: {e(d.new)} (lock `{d.new.lock[:12]}`)")
    out.append("")
    if d.empty:
        out.append("No differences.")
        out.append("")
    for section in d.SECTIONS:
        items = getattr(d, section)
        if not items:
            continue
        out.append(f"## {_TITLES[section]}")
        out.append("")
        out.append(f"{e(_counts(items))}.")
        out.append("")
        out += markdown_items(items, e, lambda name: f"`{name}`")
        out.append("")
    return "\n".join(out)


def markdown_items(items, esc, name, behind=None) -> list:
    """One Markdown bullet per changed item, a sub-bullet per changed field; ``esc``
    escapes untrusted text and ``name(item_name)`` renders the item's name (plain code or a
    link to its page); ``behind(item_name)``, when given, is Markdown naming the source
    behind the change (the site names the Final Rule), or empty."""
    out = []
    for i in items:
        title = f": {esc(i.title)}" if i.title else ""
        note = f" ({esc(i.note)})" if i.note else ""
        out.append(f"- **{esc(i.kind)}** {name(i.name)}{title}{note}")
        because = behind(i.name) if behind is not None else ""
        if because:
            out.append(f"    - {because}")
        for c in i.changes:
            before = esc(c.before) if c.before is not None else "*none*"
            after = esc(c.after) if c.after is not None else "*none*"
            out.append(f"    - {esc(c.field)}: {before} → {after}")
            for label, cites in (("before", c.cites_before), ("after", c.cites_after)):
                if cites:
                    out.append(f"        - cited {label}: " + "; ".join(citation_markdown(x.to_dict()) for x in cites))
    return out
