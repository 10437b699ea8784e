"""What the language server knows about the packs being edited, without any protocol.

Takes file paths and texts (saved or not); gives diagnostics by file, the declarations
and uses of every name in a pack, and the text of hovers and completions. Positions
here are (0-based line, 0-based column in code points); ``server.py`` converts them to
the client's units. Everything comes from the public ``rulecite.policy_lang`` API:
``load_edited`` checks a pack with the editor's unsaved texts, ``declarations`` and
``references`` index names, the ``Pack`` model (the last one checked without errors)
gives titles, windows and citations, and the facts schema gives field descriptions.

Size: about 550 lines, one section per capability (diagnostics, hover, definition and
references, symbols, completion); each section is small, and they share the one
per-pack index, which a split would have to pass between modules.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from rulecite.interpreter.reports.citations import UNVERIFIED
from rulecite.policy_lang.authority import by_authority, rank, tier_of
from rulecite.policy_lang import (
    BUILTIN_FUNCTIONS,
    KEYWORDS,
    Diagnostic,
    Pack,
    Span,
    declarations,
    format_text,
    load_edited,
    parse,
    references,
)

def tier(kind: str | None) -> tuple:
    """(rank, tier name) of a source kind (``policy_lang.authority``); kinds outside the
    fixed set rank last, "unranked"."""
    return rank(kind), tier_of(kind) or "unranked"


def pack_root(path: Path) -> Path | None:
    """The nearest folder at or above ``path``'s folder holding pack.toml."""
    for folder in [path.parent, *path.parent.parents]:
        if (folder / "pack.toml").is_file():
            return folder
    return None


class FileIndex:
    """One .policy file: its text and the declarations and uses of names in it. When the
    text does not parse, the names of the last text that did are kept."""

    def __init__(self, path: str, text: str, previous: FileIndex | None = None):
        self.path = path
        self.text = text
        self.lines = text.removeprefix("\ufeff").split("\n")
        module, self.parse_diagnostics = parse(text, path)
        if module is not None:
            self.symbols = declarations(module, text)
            self.references = references(module, text)
            self.parsed = True
        else:
            self.symbols = previous.symbols if previous else ()
            self.references = previous.references if previous else ()
            self.parsed = False


def _contains(span: Span, line: int, col: int) -> bool:
    """Whether the 0-based (line, col) lies in ``span`` (1-based, end exclusive; a caret
    just after the name counts, as editors put it there after typing)."""
    pos = (line + 1, col + 1)
    return (span.line, span.column) <= pos <= (span.end_line, span.end_column)


class PackWorkspace:
    """A pack being edited: its files' indexes, the last check and the last good model."""

    def __init__(self, root: Path | None):
        self.root = root
        self.files: dict = {}  # path -> FileIndex
        self.diagnostics: dict = {}  # path -> [Diagnostic]
        self.pack: Pack | None = None  # the last model checked without errors
        self.schema: dict | None = None
        self.lock = threading.Lock()

    # ------------------------------------------------------------ checking
    def check(self, open_texts: dict) -> dict:
        """Check the pack with the editor's texts (path -> text); gives path -> diagnostics
        for every file of the pack (empty lists included, to clear old ones)."""
        if self.root is None:
            out = {}
            for path, text in open_texts.items():
                idx = self.index(path, text)
                out[path] = list(idx.parse_diagnostics)
            return out
        loaded = load_edited(self.root, {p: t for p, t in open_texts.items() if _under(p, self.root)})
        by_file: dict = {}
        for d in loaded.diagnostics:
            by_file.setdefault(d.span.file, []).append(d)
        texts = dict(loaded.texts)
        for path, text in texts.items():
            if path.endswith(".policy"):
                self.index(path, text)
        if loaded.pack is not None:
            self.pack = loaded.pack
            self.schema = loaded.pack.schema
        elif self.schema is None:
            schema_text = texts.get(str(self.root / "facts.schema.json"))
            try:
                self.schema = json.loads(schema_text) if schema_text else None
            except ValueError:
                self.schema = None
        out = {p: [] for p in set(self.diagnostics) | {p for p in texts if _under(p, self.root)}}
        for path, diags in by_file.items():
            out[path] = diags
        self.diagnostics = {p: d for p, d in out.items() if d}
        return out

    def index(self, path: str, text: str) -> FileIndex:
        """The index of ``path`` for ``text`` (parsed again only when the text changed)."""
        with self.lock:
            old = self.files.get(path)
            if old is not None and old.text == text:
                return old
        new = FileIndex(path, text, old)
        with self.lock:
            self.files[path] = new
        return new

    # ------------------------------------------------------------ names
    def symbols(self, kind: str, name: str, container: str | None = None) -> list:
        """Declarations of ``name`` as ``kind``; for a ``let``, the one of the rule
        ``container`` comes before the top-level one."""
        found = [s for f in list(self.files.values()) for s in f.symbols if s.kind == kind and s.name == name]
        if kind == "let":
            local = [s for s in found if s.container is not None and s.container == container]
            return local or [s for s in found if s.container is None]
        return found

    def resolve(self, ref) -> list:
        """The declarations a reference means (the first kind that has one)."""
        for kind in ref.kinds:
            found = self.symbols(kind, ref.name, ref.container)
            if found:
                return found
        return []

    def at(self, idx: FileIndex, line: int, col: int):
        """(declarations meant, the reference or declaration under the cursor) at a position."""
        for s in idx.symbols:
            if _contains(s.span, line, col):
                return self.symbols(s.kind, s.name, s.container) or [s], s
        for r in idx.references:
            if _contains(r.span, line, col):
                return self.resolve(r), r
        return [], None

    def uses(self, target) -> list:
        """Every reference, in every file, that means the declaration ``target``."""
        out = []
        for f in list(self.files.values()):
            for r in f.references:
                if r.name == target.name and target in self.resolve(r):
                    out.append(r)
        return out

    # ------------------------------------------------------------ hover
    def hover(self, idx: FileIndex, line: int, col: int) -> tuple | None:
        """(markdown, span) for the thing under the cursor, or None."""
        targets, under = self.at(idx, line, col)
        if targets:
            return self.describe(targets[0], idx), under.span
        chain = _chain_at(idx.lines, line, col)
        if chain is not None:
            names, span = chain
            node = self.field_schema(idx, names, span)
            if node is not None:
                return _field_markdown(names, node), span
        return None

    def describe(self, sym, idx: FileIndex) -> str:
        pack = self.pack
        if sym.kind == "rule" and pack is not None and pack.rule_versions(sym.name):
            return _rule_markdown(pack.rule_versions(sym.name))
        if sym.kind == "code" and pack is not None and pack.code(sym.name):
            return _code_markdown(pack.code(sym.name))
        if sym.kind == "source" and pack is not None and pack.source(sym.name):
            return _source_markdown(pack.source(sym.name))
        if sym.kind == "set" and pack is not None and pack.set(sym.name):
            s = pack.set(sym.name)
            members = ", ".join(s.members[:40]) + (", ..." if len(s.members) > 40 else "")
            return f"**set** `{s.name}`" + (f": {s.title}" if s.title else "") + f"\n\n{len(s.members)} codes: {members}"
        # no model yet (the pack has errors) or a kind without a description: the declaration's text
        text = self.declaration_text(sym)
        head = f"**{sym.kind}** `{sym.name}`" + (f" (in rule `{sym.container}`)" if sym.container else "")
        if sym.kind == "let":
            ty = self._let_type(sym)
            head += f": {ty}" if ty else ""
        return head + (f"\n\n```policy\n{text}\n```" if text else "")

    def declaration_text(self, sym, max_lines: int = 12) -> str:
        f = self.files.get(sym.extent.file)
        if f is None:
            return ""
        e = sym.extent
        lines = f.lines[e.line - 1:e.end_line]
        if not lines:
            return ""
        if len(lines) == 1:
            return lines[0][e.column - 1:e.end_column - 1]
        lines[0] = lines[0][e.column - 1:]
        lines[-1] = lines[-1][:e.end_column - 1]
        return "\n".join(lines[:max_lines] + (["..."] if len(lines) > max_lines else []))

    def _let_type(self, sym) -> str | None:
        if self.pack is None:
            return None
        pool = self.pack.derived
        if sym.container is not None:
            pool = tuple(x for r in self.pack.rule_versions(sym.container) for x in r.lets)
        for d in pool:
            if d.name == sym.name:
                return str(d.type)
        return None

    # ------------------------------------------------------------ fields
    def field_schema(self, idx: FileIndex, names: list, span: Span) -> dict | None:
        """The facts-schema node of a field path such as ``line.code`` (a variable bound by
        ``for x in list`` or ``any(x in list ...)`` is followed to its list's items)."""
        if not self.schema:
            return None
        offset = _offset(idx.lines, span.line - 1, span.column - 1)
        node = self._head(idx, names[0], offset, 0)
        for n in names[1:]:
            node = _property(self.schema, node, n)
            if node is None:
                return None
        return node

    def _head(self, idx: FileIndex, name: str, offset: int, depth: int) -> dict | None:
        schema = self.schema
        if name == "history":
            return {"type": "array", "items": schema, "description": "Earlier records of the same subject."}
        binding = _binding(idx.text, name, offset)
        if binding is not None and depth < 6:
            names, at = binding
            node = self._head(idx, names[0], at, depth + 1)
            for n in names[1:]:
                node = _property(schema, node, n)
            node = _deref(schema, node)
            if isinstance(node, dict) and (node.get("type") == "array" or "items" in node):
                return _deref(schema, node.get("items"))
            return None
        lets = self.symbols("let", name)
        if lets and depth < 6 and lets[0].extent.file in self.files:
            # a let that collects from a list (``collect(t for t in time where ...)``): its items
            let, f = lets[0], self.files[lets[0].extent.file]
            start = _offset(f.lines, let.extent.line - 1, let.extent.column - 1)
            m = re.compile(r"\bin\s+(" + _IDENT + r"(?:\." + _IDENT + r")*)").search(f.text, start,
                                                                                  start + len(self.declaration_text(let, 50)))
            if m is not None:
                names = m.group(1).split(".")
                node = self._head(f, names[0], m.start(1), depth + 1)
                for n in names[1:]:
                    node = _property(schema, node, n)
                node = _deref(schema, node)
                if isinstance(node, dict) and "items" in node:
                    return {"type": "array", "items": node["items"]}
            return None
        return _property(schema, schema, name)

    def fields(self, idx: FileIndex, names: list, offset_line: int, offset_col: int) -> dict:
        """name -> schema node of the fields after ``names.`` (all top-level ones when empty)."""
        if not self.schema:
            return {}
        if not names:
            node = self.schema
        else:
            offset = _offset(idx.lines, offset_line, offset_col)
            node = self._head(idx, names[0], offset, 0)
            for n in names[1:]:
                node = _property(self.schema, node, n)
        node = _deref(self.schema, node)
        return dict((node or {}).get("properties", {})) if isinstance(node, dict) else {}

    # ------------------------------------------------------------ completion
    def completions(self, idx: FileIndex, line: int, col: int) -> list:
        """(label, kind, detail) for the cursor: kind is keyword, function, field, code,
        source, set, let, rule or special."""
        before = idx.lines[line][:col] if line < len(idx.lines) else ""
        if re.search(r"\b(cite|per)\s+[A-Za-z0-9_]*$", before):
            return self._named("source")
        if re.search(r"\b(supersedes|retire|finding|override\s+rule)\s+[A-Za-z0-9_.-]*$", before) \
                or re.search(r"^\s*expect\s+(deny|warn|no\s+finding)\s+[A-Za-z0-9_.,\s-]*$", before):
            return self._named("rule")
        if re.search(r"\breplaced_by\s+([A-Za-z0-9_]+\s*,\s*)*[A-Za-z0-9_]*$", before):
            return self._named("code")
        dotted = re.search(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\.([A-Za-z0-9_]*)$", before)
        if dotted and not _in_string(before):
            names = dotted.group(1).split(".")
            return [(n, "field", _type_text(v)) for n, v in sorted(self.fields(idx, names, line, dotted.start()).items())]
        if _in_string(before):
            quote = before.rfind('"')
            if re.search(r"(==|!=|\[|,|\()\s*$", before[:quote]):
                return self._named("code")
            return []
        if re.search(r"^\s*set\s+\w+\s*=\s*\{[^}]*$", before) or _in_set_braces(idx.lines, line, col):
            return self._named("code") + self._named("set")
        out = [(w, "keyword", cat) for cat, words in KEYWORDS.items() if cat != "special" for w in words]
        out += [(w, "special", "built-in name") for w in KEYWORDS["special"]]
        out += [(f, "function", "built-in function") for f in BUILTIN_FUNCTIONS]
        out += [(n, "field", _type_text(v)) for n, v in sorted(self.fields(idx, [], line, col).items())]
        out += self._named("let") + self._named("set")
        seen, unique = set(), []
        for item in out:
            if item[0] not in seen:
                seen.add(item[0])
                unique.append(item)
        return unique

    def _named(self, kind: str) -> list:
        seen: dict = {}
        for f in list(self.files.values()):
            for s in f.symbols:
                if s.kind == kind and s.container is None and s.name not in seen:
                    seen[s.name] = (s.name, kind, self._detail(s))
        return [seen[k] for k in sorted(seen)]

    def _detail(self, sym) -> str:
        pack = self.pack
        if pack is None:
            return sym.kind
        if sym.kind == "source" and pack.source(sym.name):
            s = pack.source(sym.name)
            return f"{s.title} ({s.kind or 'source'})"
        if sym.kind == "code" and pack.code(sym.name):
            return pack.code(sym.name).description
        if sym.kind == "set" and pack.set(sym.name):
            return pack.set(sym.name).title or "set"
        if sym.kind == "rule" and pack.rule_versions(sym.name):
            return pack.rule_versions(sym.name)[-1].title
        return sym.kind


def format_document(text: str, path: str) -> str | None:
    """The canonical text of a document, or None when it does not parse."""
    formatted, _ = format_text(text, path)
    return formatted


def diagnostic_message(d: Diagnostic) -> str:
    """The message an editor shows: the checker's message, its note and its hints."""
    lines = [d.message]
    if d.label:
        lines.append(f"note: {d.label}")
    lines += [f"hint: {h}" for h in d.hints]
    return "\n".join(lines)


# ---------------------------------------------------------------- markdown


def _window(w) -> str:
    a = w.start.isoformat() if w.start else "always"
    b = w.end.isoformat() if w.end else "open-ended"
    return f"{a} to {b}"


def _citation_lines(citations) -> list:
    out = []
    for c in by_authority(citations):
        s = c.source
        where = ", ".join(x for x in (f"section {c.section}" if c.section else "",
                                      f"page {c.page}" if c.page else UNVERIFIED) if x)
        label = f"[{s.name}]({s.url})" if s.url else f"`{s.name}`"
        out.append(f"- {label} ({s.kind or 'unknown kind'}, {tier(s.kind)[1]}): {s.title}"
                   + (f", {s.citation}" if s.citation else "") + f"; {where}"
                   + (f"\n  > {c.quote}" if c.quote else ""))
    return out


def _rule_markdown(versions) -> str:
    parts = []
    for r in versions:
        head = f"**rule** `{r.id}`" + (f" (version {r.version} of {len(versions)})" if len(versions) > 1 else "")
        lines = [head, "", f"{r.title}", "", f"*{r.severity}*, in force {_window(r.window)}"]
        if r.summary:
            lines += ["", r.summary]
        if r.citations:
            lines += ["", "Citations (by authority):", *_citation_lines(r.citations)]
        parts.append("\n".join(lines))
    return "\n\n---\n\n".join(parts)


def _code_markdown(c) -> str:
    lines = [f"**code** `{c.name}`: {c.description}", "",
             (f"program {c.program}; " if c.program else "") + f"valid {_window(c.window)}"]
    if c.replaced_by:
        lines += ["", "replaced by " + ", ".join(f"`{x}`" for x in c.replaced_by)]
    if c.note:
        lines += ["", c.note]
    if c.citations:
        lines += ["", "Citations (by authority):", *_citation_lines(c.citations)]
    return "\n".join(lines)


def _source_markdown(s) -> str:
    lines = [f"**source** `{s.name}`: {s.title}", ""]
    facts = [("citation", s.citation), ("document", s.document), ("kind", f"{s.kind} ({tier(s.kind)[1]})" if s.kind else None),
             ("published", s.published.isoformat() if s.published else None),
             ("effective", s.effective.isoformat() if s.effective else None), ("url", s.url)]
    lines += [f"- {k}: {v}" for k, v in facts if v]
    if s.note:
        lines += ["", s.note]
    return "\n".join(lines)


def _type_text(node: dict) -> str:
    if not isinstance(node, dict):
        return "field"
    t = node.get("type", "value")
    if isinstance(t, list):
        t = " or ".join(map(str, t))
    if t == "array" and isinstance(node.get("items"), dict):
        t = f"list of {node['items'].get('type', 'value')}"
    if node.get("format"):
        t += f" ({node['format']})"
    return str(t)


def _field_markdown(names: list, node: dict) -> str:
    lines = [f"**field** `{'.'.join(names)}`: {_type_text(node)}"]
    if node.get("description"):
        lines += ["", str(node["description"])]
    if node.get("enum"):
        lines += ["", "one of " + ", ".join(f"`{v}`" for v in node["enum"])]
    return "\n".join(lines)


# ---------------------------------------------------------------- text helpers


def _under(path: str, root: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(root.resolve())
    except (OSError, ValueError):
        return False


def _offset(lines: list, line: int, col: int) -> int:
    return sum(len(x) + 1 for x in lines[:line]) + col


_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def _chain_at(lines: list, line: int, col: int):
    """The dotted names up to the word under the cursor (``line.code`` on ``code``) and
    its span, or None."""
    if line >= len(lines):
        return None
    text = lines[line]
    for m in re.finditer(_IDENT + r"(?:\." + _IDENT + r")*", text):
        if m.start() <= col <= m.end():
            if m.start() > 0 and text[m.start() - 1] in "\"":
                return None
            parts, pos = [], m.start()
            for p in m.group(0).split("."):
                parts.append(p)
                if pos <= col <= pos + len(p):
                    return parts, Span("", line + 1, pos + 1, line + 1, pos + len(p) + 1)
                pos += len(p) + 1
    return None


def _binding(text: str, var: str, offset: int):
    """The list a variable ranges over (``for var in X``, ``any(var in X ...)``): the
    nearest binding to ``offset`` within its declaration; (names of X, offset of X)."""
    starts = [m.start() for m in re.finditer(r"(?m)^(?=\S)", text)]
    lo = max([s for s in starts if s <= offset and re.match(r"(override\s+)?(rule|let|suggest|set|code|source|retire|test)\b", text[s:])], default=0)
    later = [s for s in starts if s > offset and re.match(r"(override\s+)?(rule|let|suggest|set|code|source|retire|test)\b", text[s:])]
    hi = min(later, default=len(text))
    best = None
    for m in re.finditer(r"(?<![A-Za-z0-9_.])" + re.escape(var) + r"\s+in\s+(" + _IDENT + r"(?:\." + _IDENT + r")*)",
                         text[lo:hi]):
        at = lo + m.start(1)
        if best is None or abs(at - offset) < abs(best[1] - offset):
            best = (m.group(1).split("."), at)
    return best


def _deref(schema: dict, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 10:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return node
        target = schema
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        node = target
        seen += 1
    if isinstance(node, dict) and "properties" not in node:
        for key in ("anyOf", "oneOf", "allOf"):
            for alt in node.get(key, ()) if isinstance(node.get(key), list) else ():
                alt = _deref(schema, alt)
                if isinstance(alt, dict) and ("properties" in alt or "items" in alt):
                    return alt
    return node


def _property(schema: dict, node, name: str):
    node = _deref(schema, node)
    if not isinstance(node, dict):
        return None
    props = node.get("properties")
    if isinstance(props, dict) and name in props:
        return _deref(schema, props[name])
    return None


def _in_string(before: str) -> bool:
    return len(re.findall(r'(?<!\\)"', before)) % 2 == 1


def _in_set_braces(lines: list, line: int, col: int) -> bool:
    """Whether the cursor is inside the `{...}` of a multi-line `set X = {`."""
    for i in range(line, max(-1, line - 40), -1):
        text = lines[i][:col] if i == line else lines[i]
        if "}" in text:
            return False
        if re.match(r"^\s*set\s+\w+\s*=\s*\{", text):
            return True
        if i != line and re.match(r"^\S", text):
            return False
    return False
