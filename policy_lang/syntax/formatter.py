"""Print any parsed module in one canonical style, keeping its comments.

Takes a ``Module``; gives text. The style: two-space indent, one field per line in a
fixed order per declaration kind, a blank line between declarations (runs of ``set``
and of ``let`` stay together), minimal parentheses, long ``and``/``or`` chains broken
one operand per line. Comments stay with the field or declaration they precede (or
end the line of). ``format(format(x)) == format(x)`` and ``parse(format(x)) ==
parse(x)``: tests prove both on golden files and on generated packs.
"""

from __future__ import annotations

import json
import re

from rulecite.policy_lang.syntax import nodes as ast

WIDTH = 100
INDENT = "  "

_PREC = {"If": 0, "Or": 1, "And": 2, "Not": 3, "Compare": 4, "In": 4, "Add": 5, "Mul": 6, "Neg": 7, "Atom": 8}


def _prec(e) -> int:
    name = type(e).__name__
    if name == "Concat":
        return _PREC["Add"]
    if name == "BinOp":
        return _PREC["Add"] if e.op in "+-" else _PREC["Mul"]
    return _PREC.get(name, _PREC["Atom"])


def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def format_expr(e) -> str:
    """One expression on one line, with the fewest parentheses that keep its meaning."""
    k = type(e).__name__
    if k in ("Name", "Ref"):
        return e.name
    if k == "If":
        return f"if {format_expr(e.cond)} then {format_expr(e.then)} else {format_expr(e.else_)}"
    if k == "Apply":  # a checked call of a definition
        return f"{e.name}(" + ", ".join(format_expr(a) for a in e.args) + ")"
    if k == "Concat":  # a checked `+` of two lists
        p = _PREC["Add"]
        return f"{_wrap(e.left, p)} + {_wrap(e.right, p + 1)}"
    if k == "Field":
        return f"{_wrap(e.obj, _PREC['Atom'])}.{e.name}"
    if k == "Literal":
        if e.kind == "string":
            return _q(e.value)
        if e.kind == "bool":
            return "true" if e.value else "false"
        return str(e.value)
    if k == "ListLit":
        return "[" + ", ".join(format_expr(i) for i in e.items) + "]"
    if k == "Not":
        return "not " + _wrap(e.operand, _PREC["Not"])
    if k == "Neg":
        return "-" + _wrap(e.operand, _PREC["Neg"])
    if k == "BinOp":
        p = _prec(e)
        return f"{_wrap(e.left, p)} {e.op} {_wrap(e.right, p + 1)}"
    if k == "Compare":
        return f"{_wrap(e.left, _PREC['Add'])} {e.op} {_wrap(e.right, _PREC['Add'])}"
    if k == "In":
        op = "not in" if e.negated else "in"
        return f"{_wrap(e.left, _PREC['Add'])} {op} {_wrap(e.right, _PREC['Add'])}"
    if k == "And":
        return " and ".join(_wrap(i, _PREC["And"] + 1) for i in e.items)
    if k == "Or":
        return " or ".join(_wrap(i, _PREC["Or"] + 1) for i in e.items)
    if k == "Call":
        return f"{e.func}(" + ", ".join(format_expr(a) for a in e.args) + ")"
    if k == "Quant":
        where = f" where {format_expr(e.where)}" if e.where is not None else ""
        return f"{e.func}({e.var} in {format_expr(e.source)}{where})"
    if k == "Fold":
        where = f" where {format_expr(e.where)}" if e.where is not None else ""
        value = format_expr(e.value)
        if re.match(r"[A-Za-z_][A-Za-z0-9_]*\s+(not\s+)?in\b", value):
            value = f"({value})"  # `sum(x in S for ...)` would read as the quantifier `sum(x in S ...)`
        return f"{e.func}({value} for {e.var} in {format_expr(e.source)}{where})"
    raise TypeError(f"not an expression: {k}")


def _wrap(e, min_prec: int) -> str:
    text = format_expr(e)
    # A Neg operand that is itself a negative literal would read as `--x`.
    return f"({text})" if _prec(e) < min_prec else text


def _broken(prefix: str, e, indent: str) -> str:
    """``prefix`` + expression; when too long, ``and``/``or`` chains break one operand
    per line (continuation lines start with the operator), also inside parentheses and
    inside a quantifier's ``where``, each nesting level four spaces deeper."""
    return prefix + _lay(e, len(indent + prefix), indent + INDENT * 2, 0)


def _lay(e, col: int, cont: str, min_prec: int) -> str:
    paren = _prec(e) < min_prec
    flat = format_expr(e)
    if paren:
        flat = f"({flat})"
    if col + len(flat) <= WIDTH:
        return flat
    k = type(e).__name__
    inner = col + (1 if paren else 0)
    if k in ("And", "Or"):
        text = _chain(e, inner, cont)
    elif k in ("Quant", "Fold") and type(e.where).__name__ in ("And", "Or"):
        head = (f"{e.func}({e.var} in {format_expr(e.source)} where " if k == "Quant" else
                f"{e.func}({format_expr(e.value)} for {e.var} in {format_expr(e.source)} where ")
        text = head + _chain(e.where, inner + len(head), cont + INDENT * 2) + ")"
    else:
        return flat
    return f"({text})" if paren else text


def _chain(e, col: int, cont: str) -> str:
    op = "and" if type(e).__name__ == "And" else "or"
    p = _PREC["And" if op == "and" else "Or"] + 1
    deeper = cont + INDENT * 2
    parts = [_lay(e.items[0], col, deeper, p)]
    for item in e.items[1:]:
        parts.append("\n" + cont + op + " " + _lay(item, len(cont) + len(op) + 1, deeper, p))
    return "".join(parts)


def _template(t) -> str:
    return _q(t.text)


MIN_STRING_ROOM = 40  # a string lined up under its quote needs at least this many columns


def _str(prefix: str, text: str, indent: str = INDENT) -> str:
    """``prefix`` + a string literal; a string too long for the line is split at
    spaces into adjacent literals on continuation lines (they join when parsed)."""
    one = prefix + _q(text)
    if len(indent + one) <= WIDTH:
        return one
    cont = indent + " " * len(prefix)  # continuation lines line up under the opening quote
    if WIDTH - len(cont) < MIN_STRING_ROOM:
        # After a long prefix (a cite with a section, a page and a quote) there is no room
        # to line up under the quote: the string starts on the next line, indented, instead
        # of being stacked one word per line at the right edge.
        prefix = prefix.rstrip() + "\n"
        indent = cont = indent + INDENT * 2
        prefix += cont
        if len(cont + _q(text)) <= WIDTH:
            return prefix + _q(text)
        budget = WIDTH - len(cont)
    else:
        budget = WIDTH - len(indent + prefix)
    words = [w for w in text.split(" ")]
    chunks, cur = [], ""
    for i, w in enumerate(words):
        piece = w + (" " if i < len(words) - 1 else "")
        if cur and len(_q(cur + piece)) > budget:
            chunks.append(cur)
            cur = ""
            budget = WIDTH - len(cont)
        cur += piece
    chunks.append(cur)
    return prefix + ("\n" + cont).join(_q(c) for c in chunks)


def _cite(c: ast.Citation, indent: str = INDENT) -> str:
    out = f"cite {c.source}"
    if c.section is not None:
        out += f" section {_q(c.section)}"
    if c.page is not None:
        out += f" page {_q(c.page)}"
    elif c.page_unverified:
        out += " page unverified"
    if c.restates:
        out += " restates"
    if c.quote is not None:
        return _str(out + " quote ", c.quote, indent)
    return out


def _scope(s) -> str:
    if isinstance(s, ast.RecordScope):
        return "for record" + (f" where {format_expr(s.where)}" if s.where is not None else "")
    return f"for {s.var} in {s.source}" + (f" where {format_expr(s.where)}" if s.where is not None else "")


def _json(value, indent: str, used: int = len("facts ")) -> str:
    """Test facts as JSON: on one line when it fits; else each key (or item) on its own
    line, nested values opened the same way only as far as needed."""
    one = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if len(indent) + used + len(one) <= WIDTH or not isinstance(value, (dict, list)) or not value:
        return one
    inner = indent + INDENT
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: " for k in value]
        body = [p + _json(v, inner, len(p) - len(inner)) for p, v in zip(items, value.values())]
        return "{\n" + ",\n".join(body) + "\n" + indent + "}"
    body = [inner + _json(v, inner, 0) for v in value]
    return "[\n" + ",\n".join(body) + "\n" + indent + "]"


# Each declaration kind: the fields in canonical order, as (layout key, printer).
def _source_fields(d: ast.SourceDecl):
    yield "title", d.title is not None and _str("title ", d.title)
    yield "citation", d.citation is not None and f"citation {_q(d.citation)}"
    yield "document", d.document is not None and f"document {_q(d.document)}"
    yield "published", d.published is not None and f"published {d.published.isoformat()}"
    yield "effective", d.effective is not None and f"effective {d.effective.isoformat()}"
    yield "url", d.url is not None and f"url {_q(d.url)}"
    yield "kind", d.kind is not None and f"kind {d.kind}"
    yield "note", d.note is not None and _str("note ", d.note)


def _member(m) -> str:
    """One member of a set: a code or set name, or `program NAME`."""
    return f"program {_program(m.name)}" if m.program else m.name


def _program(p: str) -> str:
    import re

    return p if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p) else _q(p)


def _code_fields(d: ast.CodeDecl):
    yield "program", d.program is not None and f"program {_program(d.program)}"
    yield "effective", d.effective is not None and f"effective {d.effective.isoformat()}"
    yield "until", d.until is not None and f"until {d.until.isoformat()}"
    yield "replaced_by", bool(d.replaced_by) and "replaced_by " + ", ".join(d.replaced_by)
    for c in d.citations:
        yield "citations", _cite(c)
    yield "note", d.note is not None and _str("note ", d.note)


def _rule_fields(d: ast.RuleDecl, indent: str):
    yield "title", d.title is not None and _str("title ", d.title, indent)
    yield "summary", d.summary is not None and _str("summary ", d.summary, indent)
    yield "effective", d.effective is not None and f"effective {d.effective.isoformat()}"
    yield "until", d.until is not None and f"until {d.until.isoformat()}"
    yield "supersedes", d.supersedes is not None and f"supersedes {d.supersedes}"
    for c in d.citations:
        yield "citations", _cite(c)
    for dp in d.disputes:
        tail = f" per {dp.source}" if dp.source else ""
        yield "disputes", _str("dispute ", dp.text, indent) + tail
    for t in d.tags:
        yield "tags", f"tag {t}"
    yield "scope", d.scope is not None and _scope(d.scope)
    for lt in d.lets:
        yield "lets", _broken(f"let {lt.name} = ", lt.expr, indent)
    yield "verdict", d.condition is not None and _broken(f"{d.severity} {d.mode} ", d.condition, indent)
    yield "message", d.message is not None and _str("message ", d.message.text, indent)
    yield "suggest", d.suggest is not None and _str("suggest ", d.suggest.text, indent)


def type_text(t) -> str:
    """A declared type as written: ``date``, ``list of line``."""
    return t.name if t.item is None else f"{t.name} of {type_text(t.item)}"


def def_head(d) -> str:
    params = ", ".join(f"{p.name}: {type_text(p.type)}" for p in d.params)
    return f"def {d.name}({params}) = "


def _param_fields(d: ast.ParamDecl, indent: str):
    yield "title", d.title is not None and _str("title ", d.title, indent)
    for v in d.values:
        head = _broken(f"from {v.start.isoformat()} value ", v.expr, indent)
        cites = [_cite(c, indent + INDENT * 2) for c in v.citations]
        one = " ".join([head] + cites)
        if "\n" not in one and len(indent + one) <= WIDTH:
            yield "values", one
        else:  # each citation on its own line, under the value
            yield "values", "\n".join([head] + [indent + INDENT * 2 + c for c in cites])


def _retire_fields(d: ast.RetireDecl):
    yield "from_date", d.from_date is not None and f"from {d.from_date.isoformat()}"
    for c in d.citations:
        yield "citations", _cite(c)
    yield "reason", d.reason is not None and _str("reason ", d.reason)


def _suggest_fields(d: ast.SuggestDecl, indent: str):
    yield "title", d.title is not None and f"title {_q(d.title)}"
    yield "effective", d.effective is not None and f"effective {d.effective.isoformat()}"
    yield "until", d.until is not None and f"until {d.until.isoformat()}"
    yield "scope", d.scope is not None and _scope(d.scope)
    yield "when", d.when is not None and _broken("when ", d.when, indent)
    yield "code", d.code is not None and f"code {d.code}"
    yield "units", d.units is not None and _broken("units ", d.units, indent)
    yield "reason", d.reason is not None and _str("reason ", d.reason.text, indent)
    for c in d.citations:
        yield "citations", _cite(c)


def expectation_text(x: ast.Expectation) -> str:
    if x.kind == "allow":
        return f"expect line {x.line} allow"
    if x.kind in ("deny", "warn"):
        rules = (" " + ", ".join(x.rules)) if x.rules else ""
        return f"expect line {x.line} {x.kind}{rules}"
    if x.kind == "finding":
        return f"expect finding {x.rules[0]}"
    if x.kind == "no_finding":
        return f"expect no finding {x.rules[0]}"
    if x.kind == "suggestion":
        return f"expect suggestion {x.code}" + (f" units {x.units}" if x.units is not None else "")
    return "expect rejected"


def _test_fields(d: ast.TestDecl, indent: str):
    if d.facts_file is not None:
        yield "facts_file", f"facts file {_q(d.facts_file)}"
    elif d.base is not None:
        head = f"facts from {d.base}"
        yield "facts", head + (" " + _json(d.facts, indent, len(head) + 1) if d.facts else "")
    elif d.facts is not None:
        yield "facts", "facts " + _json(d.facts, indent)
    yield "as_of", d.as_of is not None and f"as_of {d.as_of.isoformat()}"
    for x in d.expectations:
        yield "expectations", expectation_text(x)


class _Comments:
    """Assigns each comment to the declaration or field it belongs to."""

    def __init__(self, module: ast.Module):
        self.pending = sorted(module.comments, key=lambda c: (c.line, c.column))

    def take_before(self, line: int) -> list:
        out = [c for c in self.pending if c.own_line and c.line < line]
        self.pending = [c for c in self.pending if c not in out]
        return [c.text for c in out]

    def take_leading(self, line: int) -> list:
        """Comments before a declaration; a blank line stays after those that stood apart
        from it (a file's header, a section heading)."""
        out = [c for c in self.pending if c.own_line and c.line < line]
        self.pending = [c for c in self.pending if c not in out]
        lines = [c.text for c in out]
        if out and out[-1].line < line - 1:
            lines.append("")
        return lines

    def take_trailing(self, first: int, last: int) -> list:
        out = [c for c in self.pending if not c.own_line and first <= c.line <= last]
        self.pending = [c for c in self.pending if c not in out]
        return [c.text for c in out]

    def take_rest(self) -> list:
        out = [c.text for c in self.pending]
        self.pending = []
        return out


def _block(head: str, d, fields, comments: _Comments) -> list:
    """A declaration as lines: head {, fields with their comments, }."""
    lines = []
    layout = list(getattr(d, "layout", ()))
    lines.extend(comments.take_leading(d.span.line))
    head_trailing = comments.take_trailing(d.span.line, d.span.line) if not layout or \
        all(ln > d.span.line for _, ln, _ in layout) else []
    lines.append(head + " {" + ("  " + " ".join(head_trailing) if head_trailing else ""))
    positions: dict = {}
    for key, ln, end in layout:
        positions.setdefault(key, []).append((ln, end))
    used: dict = {}
    for key, text in fields:
        if not text:
            continue
        idx = used.get(key, 0)
        used[key] = idx + 1
        pos = positions.get(key, [])
        if idx < len(pos):
            ln, end = pos[idx]
            for c in comments.take_before(ln):
                lines.append(INDENT + c)
            trailing = comments.take_trailing(ln, end)
        else:
            trailing = []
        text_lines = text.split("\n")
        if trailing:
            text_lines[-1] += "  " + " ".join(trailing)
        lines.append(INDENT + text_lines[0])
        lines.extend(text_lines[1:])
    end_line = d.span.end_line
    for c in comments.take_before(end_line + 1):
        lines.append(INDENT + c)
    tail = comments.take_trailing(end_line, end_line)
    lines.append("}" + ("  " + " ".join(tail) if tail else ""))
    return lines


def _decl_lines(d, comments: _Comments) -> list:
    if isinstance(d, ast.SourceDecl):
        return _block(f"source {d.name}", d, _source_fields(d), comments)
    if isinstance(d, ast.CodeDecl):
        return _block(f"code {d.name} {_q(d.description)}", d, _code_fields(d), comments)
    if isinstance(d, ast.RuleDecl):
        head = ("override " if d.override else "") + f"rule {d.id}"
        return _block(head, d, _rule_fields(d, INDENT), comments)
    if isinstance(d, ast.RetireDecl):
        return _block(f"retire {d.rule_id}", d, _retire_fields(d), comments)
    if isinstance(d, ast.BaseDecl):
        lines = comments.take_leading(d.span.line)
        text = f"base {d.name} " + _json(d.facts if d.facts is not None else {}, "", len(f"base {d.name} "))
        trailing = comments.take_trailing(d.span.line, d.span.line)
        text_lines = text.split("\n")
        if trailing:
            text_lines[0] += "  " + " ".join(trailing)
        for c in comments.take_before(d.span.end_line + 1):
            text_lines.insert(len(text_lines) - 1, INDENT + c)
        return lines + text_lines
    if isinstance(d, ast.ParamDecl):
        return _block(f"parameter {d.name}", d, _param_fields(d, INDENT), comments)
    if isinstance(d, ast.SuggestDecl):
        return _block(f"suggest {d.id}", d, _suggest_fields(d, INDENT), comments)
    if isinstance(d, ast.TestDecl):
        return _block(f"test {_q(d.name)}", d, _test_fields(d, INDENT), comments)
    lines = comments.take_leading(d.span.line)
    if isinstance(d, ast.SetDecl):
        names = [_member(m) for m in d.members]
        members = ", ".join(names)
        title = f" {{ title {_q(d.title)} }}" if d.title is not None else ""
        text = f"set {d.name} = {{{members}}}"
        if len(text + title) > WIDTH:
            text = f"set {d.name} = {{\n" + "".join(f"{INDENT}{n},\n" for n in names) + "}"
        text += title
    elif isinstance(d, ast.DefDecl):
        text = _broken(def_head(d), d.expr, "")
    else:
        text = _broken(f"let {d.name} = ", d.expr, "")
    trailing = comments.take_trailing(d.span.line, d.span.end_line)
    text_lines = text.split("\n")
    if trailing:
        text_lines[-1] += "  " + " ".join(trailing)
    return lines + text_lines


def format_module(module: ast.Module) -> str:
    """The canonical text of a parsed module."""
    comments = _Comments(module)
    out: list = []
    prev = None
    for d in module.decls:
        kind = type(d).__name__
        if out and not (kind == prev and kind in ("SetDecl", "LetDecl")):
            out.append("")
        out.extend(_decl_lines(d, comments))
        prev = kind
    rest = comments.take_rest()
    if rest:
        if out:
            out.append("")
        out.extend(rest)
    return "\n".join(out) + "\n" if out else ""


def format_text(text: str, file: str = "<string>") -> tuple:
    """Parse and format; returns (formatted text or None, diagnostics)."""
    from rulecite.policy_lang.syntax.parser import parse

    module, diags = parse(text, file)
    if module is None or any(d.severity == "error" for d in diags):
        return None, diags
    return format_module(module), diags
