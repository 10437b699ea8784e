"""Evidence packets as pages: one self-contained HTML page (for a browser and for print,
with a print stylesheet that makes a clean PDF) and the same in Markdown, plus the index
page of a set of packets. Takes the packet data ``tools.evidence`` gathers; every value
from the facts or the pack is escaped through ``markup``, every citation written by
``citations``.

A packet leads with one block per claim line, written to be quoted in an appeal letter:
line, code, date of service, verdict, the amount at stake (when the pack has amounts),
and for each finding on the line the rule's message, its citations and the record's
fields behind it (``$.claims[1].minutes = 25``).
"""

from __future__ import annotations

import json

from rulecite.interpreter.reports.citations import citation_html, citation_markdown
from rulecite.interpreter.reports.markup import fence as md_fence
from rulecite.interpreter.reports.markup import html_text as e_html
from rulecite.interpreter.reports.markup import md_text


def _json(value, indent=None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def shown(v: dict) -> str:
    """A value read from the record, as a reader sees it: JSON, or "absent"."""
    return "absent (not in the record)" if v.get("absent") else _json(v.get("value"))


def amount_text(a: dict | None) -> str | None:
    """The amount at stake on a line, with what the amounts are; None without a table."""
    if a is None:
        return None
    if a["amount"] is None:
        return f"no amount for this code and date ({a['label']})"
    units = f" for {a['units']} units" if a.get("units", 1) != 1 else ""
    return f"{a['amount']} {a['currency']}".strip() + f"{units} ({a['label']})"


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;
margin-top:2rem}h3{font-size:1rem;margin-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-word}
.deny{color:#b42318;font-weight:600}.allow{color:#116329;font-weight:600}.warn{color:#9a6700;font-weight:600}
.info{color:#0969da}.meta td:first-child{width:12rem;color:#57606a}.finding{border-left:4px solid #d0d7de;
padding-left:.8rem;margin:1rem 0}.finding.f-deny{border-color:#b42318}.finding.f-warn{border-color:#9a6700}
.line-block{border:1px solid #d0d7de;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
.line-block.v-deny{border-left:6px solid #b42318}.line-block.v-allow{border-left:6px solid #116329}
.line-block dl{display:grid;grid-template-columns:11rem 1fr;gap:.15rem .8rem;margin:.3rem 0}
.line-block dt{color:#57606a}.line-block dd{margin:0}.reason{margin:.6rem 0 0}
.reason ul{margin:.2rem 0}
footer{margin-top:2rem;color:#57606a;font-size:.8rem}
@media print{
@page{margin:16mm 14mm}
body{font:10.5pt/1.4 Georgia,"Times New Roman",serif;max-width:none;margin:0;padding:0;color:#000}
h1{font-size:16pt}h2{font-size:13pt;break-after:avoid;page-break-after:avoid}h3{break-after:avoid}
.line-block,.finding,tr{break-inside:avoid;page-break-inside:avoid}
.line-block{border-color:#000}.line-block.v-deny,.line-block.v-allow{border-left-width:4px;border-left-color:#000}
th{background:none}pre,code{font-size:8.5pt}pre{background:none;border:1px solid #999}
a{color:#000;text-decoration:none}a[href^="http"]::after{content:" <" attr(href) ">";font-size:8pt;word-break:break-all}
.deny,.allow,.warn,.info{color:#000}details>summary{list-style:none}details:not([open]){display:none}
.no-print{display:none}
}
"""


def _head(title: str) -> list:
    return ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{e_html(title)}</title><style>{_CSS}</style></head><body>"]


def _where_html(where: list) -> str:
    e = e_html
    return "<br>".join(f"<code>{e(w['path'])} = {e(shown(w))}</code>" for w in where)


def _line_block_html(v: dict, d: dict) -> str:
    e = e_html
    verdict = "deny" if v["verdict"] == "deny" else "allow"
    rows = [("Line", e(v["line"])), ("Code", f"<code>{e(v['code'])}</code>"),
            ("Date of service", e(v["date"] or f"not on the line (period {d['period']})")),
            ("Verdict", f'<span class="{verdict}">{e(v["verdict"])}</span>')]
    amount = amount_text(v.get("amount"))
    if amount is not None:
        rows.append(("Amount at stake" if verdict == "deny" else "Amount", e(amount)))
    if v.get("path"):
        rows.append(("Where in the record", f"<code>{e(v['path'])}</code>"))
    out = [f'<section class="line-block v-{verdict}" id="{e(_anchor(v))}">',
           f"<h3>Line {e(v['line'])}: <code>{e(v['code'])}</code> — "
           f'<span class="{verdict}">{e(v["verdict"])}</span></h3>',
           "<dl>" + "".join(f"<dt>{k}</dt><dd>{val}</dd>" for k, val in rows) + "</dl>"]
    if not v["findings"]:
        out.append('<p class="reason">No rule denied or flagged this line.</p>')
    for f in v["findings"]:
        sev = f["severity"] if f["severity"] in ("deny", "warn", "info") else "info"
        out.append(f'<div class="reason"><p><span class="{sev}">{e(f["severity"])}</span> '
                   f"<strong>{e(f['title'] or f['rule'])}</strong> (rule <code>{e(f['rule'])}</code>, "
                   f"version {e(f['version'])})</p>")
        out.append(f'<p class="message">{e(f["message"])}</p>')
        if f["citations"]:
            out.append("<p>Authority:</p><ul>" + "".join(f"<li>{citation_html(c)}</li>" for c in f["citations"])
                       + "</ul>")
        where = [w for ev in f["evidence"] for w in ev["where"]]
        if where:
            more = _more(sum(ev.get("more", 0) for ev in f["evidence"]))
            out.append("<p>From the record:</p><ul>" + "".join(
                f"<li><code>{e(w['path'])} = {e(shown(w))}</code></li>" for w in _unique(where))
                + (f"<li>{e(more)}</li>" if more else "") + "</ul>")
        out.append("</div>")
    out.append("</section>")
    return "\n".join(out)


def _anchor(v: dict) -> str:
    """A line block's HTML id: ``line-ID``, and ``line-ID-N`` for the N-th line of a record
    that repeats the id (each block its own target)."""
    n = v.get("repeat", 1)
    return f"line-{v['line']}" + (f"-{n}" if n > 1 else "")


def _more(n: int) -> str:
    """What stands for the fields not listed (``tools.evidence.SHOWN_PLACES``, ``SHOWN_READ``)."""
    if not n:
        return ""
    return f"… and {n} more field{'s' if n != 1 else ''} of the record (all in the input record below)"


def _unique(where: list) -> list:
    seen, out = set(), []
    for w in where:
        if w["path"] not in seen:
            seen.add(w["path"])
            out.append(w)
    return out


def packet_html(d: dict) -> str:
    """The packet as one self-contained HTML page (no script, no outside resource)."""
    e = e_html
    who = f"{d['id_field']} {d['id']}, {d['period_field']} {d['period']}"
    pk = d["pack"]
    p = _head(f"Evidence packet: {who}")
    w = p.append
    w(f"<h1>Evidence packet</h1><p>{e(who)}</p>")
    w('<table class="meta">')
    for k, v in (("Subject", f"{d['id_field']} {d['id']}"), ("Period", d["period"]),
                 ("Rule pack", f"{pk['name']} {pk['version']} ({pk['title']})"), ("Pack lock (sha256)", pk["sha256"]),
                 ("Publication clock (as_of)", d["as_of"] or "every source"),
                 ("Input record (sha256)", d["input_sha256"]),
                 ("Result (sha256)", d["result_sha256"] or "—")):
        w(f"<tr><td>{e(k)}</td><td><code>{e(v)}</code></td></tr>")
    if d["history"]:
        hist = "<br>".join(f"{e(per)}: <code>{e(h)}</code>" for per, h in d["history"])
        w(f"<tr><td>History seen (earlier periods)</td><td>{hist}</td></tr>")
    w("</table>")
    if d["rejected"]:
        r = d["rejected"]
        w("<h2>Rejected</h2>")
        w(f'<p class="deny">The record could not be evaluated: {e(r.get("reason"))} (at <code>{e(r.get("path"))}'
          "</code>).</p>")
    else:
        w("<h2>Verdicts</h2><table><tr><th>Line</th><th>Code</th><th>Date of service</th><th>Verdict</th>"
          "<th>Rules</th><th>Warnings</th></tr>")
        for v in d["lines"]:
            cls = "deny" if v["verdict"] == "deny" else "allow"
            w(f'<tr><td><a href="#{e(_anchor(v))}">{e(v["line"])}</a></td><td><code>{e(v["code"])}</code></td>'
              f"<td>{e(v['date'] or '—')}</td><td class=\"{cls}\">{e(v['verdict'])}</td>"
              f"<td>{e(', '.join(v['rules']))}</td><td>{e(', '.join(v['warnings']))}</td></tr>")
        if not d["lines"]:
            w('<tr><td colspan="6">no lines</td></tr>')
        w("</table>")
        w("<h2>Line by line</h2>")
        for v in d["lines"]:
            w(_line_block_html(v, d))
    if d["findings"]:
        w("<h2>Findings</h2>")
    for f in d["findings"]:
        sev = f["severity"] if f["severity"] in ("deny", "warn", "info") else "info"
        where = "whole record" if f["line"] is None else f"line {f['line']}"
        w(f'<section class="finding f-{sev}"><h3><code>{e(f["rule"])}</code> '
          f'<span class="{sev}">{e(f["severity"])}</span> — {e(where)}</h3>')
        if f["title"]:
            w(f"<p><strong>{e(f['title'])}</strong></p>")
        w(f"<p>{e(f['message'])}</p>")
        if f["citations"]:
            w("<p>Citations:</p><ul>" + "".join(f"<li>{citation_html(c)}</li>" for c in f["citations"]) + "</ul>")
        if f["evidence"]:
            w("<table><tr><th>Value the rule tested</th><th>Value</th><th>Where in the record</th></tr>")
            for ev in f["evidence"]:
                w(f"<tr><td><code>{e(ev['expr'])}</code></td><td><code>{e(_json(ev['value']))}</code></td>"
                  f"<td>{_where_html(ev['where']) or 'computed (no field of the record)'}"
                  f"{'<br>' + e(_more(ev.get('more', 0))) if ev.get('more') else ''}</td></tr>")
            w("</table>")
        if f["text"]:
            w(f"<details><summary>Rule text (version {e(f['version'])})</summary><pre>{e(f['text'])}</pre></details>")
        w("</section>")
    if d["suggestions"]:
        w("<h2>Suggestions</h2><ul>")
        for s in d["suggestions"]:
            units = f" × {e(s['units'])}" if s.get("units") is not None else ""
            w(f"<li><code>{e(s['code'])}</code>{units}: {e(s['reason'])}</li>")
        w("</ul>")
    w("<h2>Facts the rules read</h2>")
    if not d["read"]:
        w("<p>No rule applied to this record.</p>")
    for key, values, more in d["read"]:
        w(f"<h3>{'Whole record' if key is None else 'Line ' + e(key)}</h3>")
        w("<table><tr><th>Field of the record</th><th>Value</th></tr>")
        for v in values:
            w(f"<tr><td><code>{e(v['path'])}</code></td><td><code>{e(shown(v))}</code></td></tr>")
        if more:
            w(f'<tr><td colspan="2">{e(_more(more))}</td></tr>')
        w("</table>")
    w("<h2>Input record</h2>")
    w(f"<pre>{e(_json(d['record'], 2))}</pre>")
    w(f"<footer>Generated by {e(d['generated_by'] or 'Rulecite')}. Re-evaluate with the same pack lock, "
      "clock and input (and history) to reproduce every verdict above.</footer>")
    w("</body></html>")
    return "\n".join(p) + "\n"


def _fence(text: str) -> str:
    return md_fence(text).split("\n", 1)[0]


def _line_block_markdown(v: dict, d: dict) -> list:
    e = md_text
    o = [f"### Line {e(v['line'])}: {e(v['code'])} — {e(v['verdict'])}", "",
         f"- Line: {e(v['line'])}", f"- Code: {e(v['code'])}",
         f"- Date of service: {e(v['date'] or 'not on the line (period ' + str(d['period']) + ')')}",
         f"- Verdict: **{e(v['verdict'])}**"]
    amount = amount_text(v.get("amount"))
    if amount is not None:
        o.append(f"- {'Amount at stake' if v['verdict'] == 'deny' else 'Amount'}: {e(amount)}")
    if v.get("path"):
        o.append(f"- Where in the record: {e(v['path'])}")
    o.append("")
    if not v["findings"]:
        o += ["No rule denied or flagged this line.", ""]
    for f in v["findings"]:
        o += [f"**{e(f['title'] or f['rule'])}** ({e(f['severity'])}; rule {e(f['rule'])}, version "
              f"{e(f['version'])})", "", f"> {e(f['message'])}", ""]
        if f["citations"]:
            o += ["Authority:", ""] + [f"- {citation_markdown(c)}" for c in f["citations"]] + [""]
        where = _unique([w for ev in f["evidence"] for w in ev["where"]])
        if where:
            more = _more(sum(ev.get("more", 0) for ev in f["evidence"]))
            o += ["From the record:", ""] + [f"- {e(w['path'])} = {e(shown(w))}" for w in where] \
                + ([f"- {e(more)}"] if more else []) + [""]
    return o


def packet_markdown(d: dict) -> str:
    """The packet in Markdown (for a letter or a ticket), every value escaped."""
    e = md_text
    pk = d["pack"]
    o = [f"# Evidence packet: {e(d['id_field'])} {e(d['id'])}, {e(d['period_field'])} {e(d['period'])}", ""]
    o += ["| | |", "|---|---|",
          f"| Rule pack | {e(pk['name'])} {e(pk['version'])} ({e(pk['title'])}) |",
          f"| Pack lock (sha256) | `{pk['sha256']}` |",
          f"| Publication clock (as_of) | {e(d['as_of'] or 'every source')} |",
          f"| Input record (sha256) | `{d['input_sha256']}` |",
          f"| Result (sha256) | `{d['result_sha256'] or '-'}` |"]
    for per, h in d["history"]:
        o.append(f"| History {e(per)} (sha256) | `{h}` |")
    o.append("")
    if d["rejected"]:
        r = d["rejected"]
        o += ["## Rejected", "", f"The record could not be evaluated: {e(r.get('reason'))} (at {e(r.get('path'))}).",
              ""]
    else:
        o += ["## Verdicts", "", "| Line | Code | Date of service | Verdict | Rules | Warnings |",
              "|---|---|---|---|---|---|"]
        for v in d["lines"]:
            o.append(f"| {e(v['line'])} | {e(v['code'])} | {e(v['date'] or '-')} | **{e(v['verdict'])}** "
                     f"| {e(', '.join(v['rules']))} | {e(', '.join(v['warnings']))} |")
        o += ["", "## Line by line", ""]
        for v in d["lines"]:
            o += _line_block_markdown(v, d)
    if d["findings"]:
        o += ["## Findings", ""]
    for f in d["findings"]:
        where = "whole record" if f["line"] is None else f"line {e(f['line'])}"
        o += [f"### {e(f['rule'])} ({e(f['severity'])}, {where})", ""]
        if f["title"]:
            o += [f"**{e(f['title'])}**", ""]
        o += [e(f["message"]), ""]
        for c in f["citations"]:
            o.append(f"- {citation_markdown(c)}")
        if f["citations"]:
            o.append("")
        if f["evidence"]:
            o += ["| Value the rule tested | Value | Where in the record |", "|---|---|---|"]
            for ev in f["evidence"]:
                places = "; ".join([f"{e(w['path'])} = {e(shown(w))}" for w in ev["where"]]
                                   + ([e(_more(ev["more"]))] if ev.get("more") else [])) \
                    or "computed (no field of the record)"
                o.append(f"| {e(ev['expr'])} | {e(_json(ev['value']))} | {places} |")
            o.append("")
        if f["text"]:
            fence = _fence(f["text"])
            o += [f"Rule text (version {f['version']}):", "", fence, f["text"], fence, ""]
    if d["suggestions"]:
        o += ["## Suggestions", ""]
        for s in d["suggestions"]:
            units = f" × {e(s['units'])}" if s.get("units") is not None else ""
            o.append(f"- {e(s['code'])}{units}: {e(s['reason'])}")
        o.append("")
    o += ["## Facts the rules read", ""]
    if not d["read"]:
        o += ["No rule applied to this record.", ""]
    for key, values, more in d["read"]:
        o += [f"### {'Whole record' if key is None else 'Line ' + e(key)}", "", "| Field of the record | Value |",
              "|---|---|"]
        for v in values:
            o.append(f"| {e(v['path'])} | {e(shown(v))} |")
        if more:
            o.append(f"| {e(_more(more))} | |")
        o.append("")
    body = _json(d["record"], 2)
    fence = _fence(body)
    o += ["## Input record", "", fence + "json", body, fence, "",
          f"Generated by {e(d['generated_by'] or 'Rulecite')}. Re-evaluate with the same pack lock, clock and input "
          "(and history) to reproduce every verdict above.", ""]
    return "\n".join(o)


# ---------------------------------------------------------------- the index of a set of packets


def _status(r: dict) -> str:
    if r["rejected"]:
        return "rejected"
    lines = f"{r['lines']} line" + ("" if r["lines"] == 1 else "s")
    return f"{r['denied']} of {lines} denied" if r["denied"] else f"{lines} allowed"


def _who(r: dict):
    return r["id"] if r["id"] is not None else f"(input line {r.get('input_line')})"


def index_html(meta: dict, rows: list) -> str:
    """The index of a set of packets: one row per record, linked to its packet."""
    e = e_html
    pk = meta["pack"]
    p = _head(f"Evidence packets: {pk['name']} {pk['version']}")
    w = p.append
    w(f"<h1>Evidence packets</h1><p>{e(pk['title'])}: pack <code>{e(pk['name'])}</code> {e(pk['version'])}, "
      f"lock <code>{e(pk['sha256'])}</code>; clock {e(meta['as_of'] or 'every source')}; {e(meta['filter'])}.</p>")
    w(f"<table><tr><th>{e(meta['id_field'])}</th><th>{e(meta['period_field'])}</th><th>Outcome</th>"
      "<th>Packet</th></tr>")
    for r in rows:
        cls = "deny" if r["rejected"] or r["denied"] else "allow"
        if r["file"]:
            link = (f'<a href="{e(r["file"])}.html">{e(r["file"])}.html</a> · '
                    f'<a href="{e(r["file"])}.md">.md</a>')
        else:
            link = e(r["rejected"])
        w(f"<tr><td>{e(_who(r))}</td><td>{e(r['period'])}</td><td class=\"{cls}\">{e(_status(r))}</td>"
          f"<td>{link}</td></tr>")
    if not rows:
        w('<tr><td colspan="4">no record matched</td></tr>')
    w("</table>")
    w(f"<footer>Generated by {e(meta['generated_by'] or 'Rulecite')}.</footer></body></html>")
    return "\n".join(p) + "\n"


def index_markdown(meta: dict, rows: list) -> str:
    """The index in Markdown."""
    e = md_text
    pk = meta["pack"]
    o = ["# Evidence packets", "",
         f"{e(pk['title'])}: pack {e(pk['name'])} {e(pk['version'])}, lock `{pk['sha256']}`; clock "
         f"{e(meta['as_of'] or 'every source')}; {e(meta['filter'])}.", "",
         f"| {e(meta['id_field'])} | {e(meta['period_field'])} | Outcome | Packet |", "|---|---|---|---|"]
    for r in rows:
        link = f"[{e(r['file'] + '.md')}]({r['file']}.md)" if r["file"] else e(r["rejected"])
        o.append(f"| {e(_who(r))} | {e(r['period'])} | {e(_status(r))} | {link} |")
    if not rows:
        o.append("| | | no record matched | |")
    return "\n".join(o) + "\n"
