"""Evidence packets as pages: one self-contained HTML page (for a browser and for print)
and the same in Markdown. Takes the packet data ``tools.evidence`` gathers; every value
from the facts or the pack is escaped through ``markup``, every citation written by
``citations``.
"""

from __future__ import annotations

import json

from rulecite.interpreter.reports.citations import citation_html, citation_markdown
from rulecite.interpreter.reports.markup import fence as md_fence
from rulecite.interpreter.reports.markup import html_text as e_html
from rulecite.interpreter.reports.markup import md_text


def _json(value, indent=None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


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
footer{margin-top:2rem;color:#57606a;font-size:.8rem}
"""


def packet_html(d: dict) -> str:
    """The packet as one self-contained HTML page (no script, no outside resource)."""
    e = e_html

    def cite(c: dict) -> str:
        return f"<li>{citation_html(c)}</li>"

    who = f"{d['id_field']} {d['id']}, {d['period_field']} {d['period']}"
    pk = d["pack"]
    p = []
    w = p.append
    w("<!DOCTYPE html>")
    w('<html lang="en"><head><meta charset="utf-8">')
    w("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">")
    w('<meta name="viewport" content="width=device-width, initial-scale=1">')
    w(f"<title>Evidence packet: {e(who)}</title><style>{_CSS}</style></head><body>")
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
        w("<h2>Verdicts</h2><table><tr><th>Line</th><th>Code</th><th>Verdict</th><th>Rules</th><th>Warnings</th></tr>")
        for v in d["lines"]:
            cls = "deny" if v["verdict"] == "deny" else "allow"
            w(f"<tr><td>{e(v['line'])}</td><td><code>{e(v['code'])}</code></td><td class=\"{cls}\">"
              f"{e(v['verdict'])}</td><td>{e(', '.join(v.get('rules', [])))}</td>"
              f"<td>{e(', '.join(v.get('warnings', [])))}</td></tr>")
        if not d["lines"]:
            w('<tr><td colspan="5">no lines</td></tr>')
        w("</table>")
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
            w("<p>Citations:</p><ul>" + "".join(cite(c) for c in f["citations"]) + "</ul>")
        if f["evidence"]:
            w("<table><tr><th>Value read</th><th>Value</th><th>Where in the record</th></tr>")
            for expr, value, path in f["evidence"]:
                w(f"<tr><td><code>{e(expr)}</code></td><td><code>{e(_json(value))}</code></td>"
                  f"<td><code>{e(path or '')}</code></td></tr>")
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
    for key, values in d["read"].items():
        w(f"<h3>{'Whole record' if key is None else 'Line ' + e(key)}</h3>")
        w("<table><tr><th>Expression</th><th>Value</th></tr>")
        for expr, value in values.items():
            w(f"<tr><td><code>{e(expr)}</code></td><td><code>{e(_json(value))}</code></td></tr>")
        w("</table>")
    w("<h2>Input record</h2>")
    w(f"<pre>{e(_json(d['record'], 2))}</pre>")
    w(f"<footer>Generated by {e(d['generated_by'] or 'Rulecite')}. Re-evaluate with the same pack lock, "
      "clock and input (and history) to reproduce every verdict above.</footer>")
    w("</body></html>")
    return "\n".join(p) + "\n"


def _fence(text: str) -> str:
    return md_fence(text).split("\n", 1)[0]


def packet_markdown(d: dict) -> str:
    """The packet in Markdown (for a letter or a ticket), every value escaped."""
    e = md_text
    cite = citation_markdown

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
        o += ["## Verdicts", "", "| Line | Code | Verdict | Rules | Warnings |", "|---|---|---|---|---|"]
        for v in d["lines"]:
            o.append(f"| {e(v['line'])} | {e(v['code'])} | **{e(v['verdict'])}** | {e(', '.join(v.get('rules', [])))} "
                     f"| {e(', '.join(v.get('warnings', [])))} |")
        o.append("")
    if d["findings"]:
        o += ["## Findings", ""]
    for f in d["findings"]:
        where = "whole record" if f["line"] is None else f"line {e(f['line'])}"
        o += [f"### {e(f['rule'])} ({e(f['severity'])}, {where})", ""]
        if f["title"]:
            o += [f"**{e(f['title'])}**", ""]
        o += [e(f["message"]), ""]
        for c in f["citations"]:
            o.append(f"- {cite(c)}")
        if f["citations"]:
            o.append("")
        if f["evidence"]:
            o += ["| Value read | Value | Where in the record |", "|---|---|---|"]
            for expr, value, path in f["evidence"]:
                o.append(f"| {e(expr)} | {e(_json(value))} | {e(path or '')} |")
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
    for key, values in d["read"].items():
        o += [f"### {'Whole record' if key is None else 'Line ' + e(key)}", "", "| Expression | Value |", "|---|---|"]
        for expr, value in values.items():
            o.append(f"| {e(expr)} | {e(_json(value))} |")
        o.append("")
    body = _json(d["record"], 2)
    fence = _fence(body)
    o += ["## Input record", "", fence + "json", body, fence, "",
          f"Generated by {e(d['generated_by'] or 'Rulecite')}. Re-evaluate with the same pack lock, clock and input "
          "(and history) to reproduce every verdict above.", ""]
    return "\n".join(o)
