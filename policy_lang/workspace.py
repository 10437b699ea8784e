"""What an editor needs from the language: a pack checked with unsaved texts, and
where each name is declared and used.

Takes pack folders, file texts and parsed modules; gives ``LoadedPack`` values (as
``packs.load`` does), ``Symbol`` values (a declaration: kind, name, where its name is
written and where the whole declaration lies) and ``Reference`` values (a use of a
name, with the kinds of declaration it may mean). The language server
(``rulecite lsp``) is built on these three functions and never reads the syntax tree.

Which nodes declare names and which use them is two tables, ``DECLARATION_KINDS`` and
``REFERENCE_SITES``: a new kind of declaration is one entry in the first (and its uses
entries in the second).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import attrs
from attrs import frozen

from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.syntax.nodes import Span
from rulecite.policy_lang.files import PackFiles
from rulecite.policy_lang.load import LoadedPack, load


@frozen
class DeclKind:
    """A kind of declaration: its syntax-tree node and how its name is read."""

    kind: str  # "source", "code", ... (what a Symbol's ``kind`` says)
    node: type
    name: Callable = attrs.field(default=lambda d: d.name)


DECLARATION_KINDS: tuple = (
    DeclKind("source", ast.SourceDecl),
    DeclKind("code", ast.CodeDecl),
    DeclKind("set", ast.SetDecl),
    DeclKind("let", ast.LetDecl),
    DeclKind("def", ast.DefDecl),
    DeclKind("parameter", ast.ParamDecl),
    DeclKind("base", ast.BaseDecl),
    DeclKind("rule", ast.RuleDecl, lambda d: d.id),
)


@frozen
class ReferenceSite:
    """Where a node uses names: its attribute (a name or a tuple of names), the kinds of
    declaration such a name may mean (tried in order), and, for a declaration's own
    attribute that has no node of its own, the ``layout`` key of the line it is on."""

    node: type
    attribute: str
    kinds: tuple
    layout_key: str | None = None
    when: Callable = attrs.field(default=lambda n: True)


REFERENCE_SITES: tuple = (
    ReferenceSite(ast.Citation, "source", ("source",)),
    ReferenceSite(ast.Dispute, "source", ("source",)),
    ReferenceSite(ast.SetMember, "name", ("set", "code")),
    ReferenceSite(ast.Name, "name", ("let", "set", "parameter")),
    ReferenceSite(ast.Call, "func", ("def",)),
    ReferenceSite(ast.TestDecl, "base", ("base",), "facts"),
    ReferenceSite(ast.Literal, "value", ("code",), when=lambda n: n.kind == "string"),
    ReferenceSite(ast.CodeDecl, "replaced_by", ("code",), "replaced_by"),
    ReferenceSite(ast.RuleDecl, "supersedes", ("rule",), "supersedes"),
    ReferenceSite(ast.RetireDecl, "rule_id", ("rule",)),
    ReferenceSite(ast.SuggestDecl, "code", ("code",), "code"),
    ReferenceSite(ast.Expectation, "rules", ("rule",)),
    ReferenceSite(ast.Expectation, "code", ("code",)),
)


@frozen
class Symbol:
    """A declaration: ``span`` is where its name is written, ``extent`` the whole
    declaration; ``container`` is the rule id of a rule-local ``let`` (else None)."""

    kind: str
    name: str
    span: Span
    extent: Span
    container: str | None = None


@frozen
class Reference:
    """A use of ``name``, at ``span``; ``kinds``: the declaration kinds it may mean, in
    the order to try them; ``container``: the rule id it sits in (for rule-local lets)."""

    name: str
    kinds: tuple
    span: Span
    container: str | None = None


_WORD = "A-Za-z0-9_"


def _offsets(text: str) -> list:
    """Offset of the start of each line (1-based line n starts at offsets[n - 1])."""
    out = [0]
    for m in re.finditer("\n", text):
        out.append(m.end())
    return out


class _Text:
    def __init__(self, text: str):
        self.text = text.removeprefix("\ufeff")
        self.starts = _offsets(self.text)

    def offset(self, line: int, column: int) -> int:
        if line < 1 or line > len(self.starts):
            return len(self.text)
        return min(self.starts[line - 1] + max(column, 1) - 1, len(self.text))

    def span_at(self, file: str, start: int, end: int) -> Span:
        def pos(off):
            i = max(0, _bisect(self.starts, off) - 1)
            return i + 1, off - self.starts[i] + 1

        (l1, c1), (l2, c2) = pos(start), pos(end)
        return Span(file, l1, c1, l2, c2)

    def find(self, file: str, name: str, start: int, end: int, used: set, rule_id: bool = False) -> Span | None:
        """The first whole-word ``name`` in text[start:end] not found before (``used``);
        a ``rule_id`` does not end where a longer rule id goes on (``a.b`` in ``a.b.c``)."""
        after = r"(?![" + _WORD + r"])" + (r"(?![.-][" + _WORD + r"])" if rule_id else "")
        pattern = re.compile(r"(?<![" + _WORD + r".-])" + re.escape(name) + after)
        for m in pattern.finditer(self.text, start, max(start, end)):
            if m.start() not in used:
                used.add(m.start())
                return self.span_at(file, m.start(), m.end())
        return None


def _bisect(starts: list, off: int) -> int:
    lo, hi = 0, len(starts)
    while lo < hi:
        mid = (lo + hi) // 2
        if starts[mid] <= off:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _layout_range(decl, key: str, text: _Text):
    for k, line, end_line in getattr(decl, "layout", ()):
        if k == key:
            return text.offset(line, 1), text.offset(end_line + 1, 1)
    return None


def declarations(module: ast.Module, text: str) -> tuple:
    """Every declaration of ``module`` (parsed from ``text``) as a ``Symbol``, in source
    order: top-level ones and the ``let`` lines inside rules."""
    t = _Text(text)
    out: list = []
    used: set = set()
    by_node = {k.node: k for k in DECLARATION_KINDS}

    def visit(decl, container):
        kind = by_node.get(type(decl))
        if kind is not None:
            name = str(kind.name(decl))
            s = decl.span
            span = t.find(module.file, name, t.offset(s.line, s.column), t.offset(s.end_line, s.end_column), used,
                          kind.kind == "rule") or s
            out.append(Symbol(kind.kind, name, span, s, container))
            container = name if kind.kind == "rule" else container
        for a in attrs.fields(type(decl)) if attrs.has(type(decl)) else ():
            if a.name in ("span", "layout"):
                continue
            value = getattr(decl, a.name)
            for v in value if isinstance(value, tuple) else (value,):
                if type(v) in by_node:
                    visit(v, container)

    for d in module.decls:
        visit(d, None)
    return tuple(out)


def references(module: ast.Module, text: str) -> tuple:
    """Every use of a declared name in ``module`` (parsed from ``text``) as a
    ``Reference``: sources after ``cite`` and ``per``, codes and sets in sets and
    expressions (a code as a string, ``"99490"``), lets and sets by name, rule ids after
    ``supersedes``, ``retire`` and ``expect``. A name is only a candidate: whether a
    declaration of that name exists is for the caller to look up."""
    t = _Text(text)
    sites: dict = {}
    for site in REFERENCE_SITES:
        sites.setdefault(site.node, []).append(site)
    out: list = []
    used: set = set()
    rule_kinds = {k.node for k in DECLARATION_KINDS if k.kind == "rule"}

    def region(node, site, decl):
        if site.layout_key is not None:
            return _layout_range(decl, site.layout_key, t)
        s = node.span
        if s.line < 1:
            return None
        return t.offset(s.line, s.column), t.offset(s.end_line, s.end_column)

    def visit(node, decl, container, template):
        for site in sites.get(type(node), ()):
            if not site.when(node):
                continue
            value = getattr(node, site.attribute)
            if value is None:
                continue
            in_template = template is not None and isinstance(node, ast.Name)
            r = template if in_template else region(node, site, decl)
            if r is None:
                continue
            for name in value if isinstance(value, tuple) else (value,):
                if not isinstance(name, str) or not name:
                    continue
                span = _find_in(t, module.file, name, r, used, in_template, "rule" in site.kinds)
                if span is not None:
                    out.append(Reference(name, site.kinds, span, container))
        if type(node) in rule_kinds:
            container = node.id
        if isinstance(node, ast.Template):
            s = node.span
            template = (t.offset(s.line, s.column), t.offset(s.end_line, s.end_column))
        if not attrs.has(type(node)):
            return
        for a in attrs.fields(type(node)):
            if a.name in ("span", "layout"):
                continue
            value = getattr(node, a.name)
            for v in value if isinstance(value, tuple) else (value,):
                if attrs.has(type(v)):
                    visit(v, decl, container, template)

    for d in module.decls:
        visit(d, d, None, None)
    return tuple(out)


# A `{...}` placeholder of a message, which may run on across the break between two string
# pieces (`"... {a * "` newline `"b} ..."`), as the formatter writes long messages.
_PLACEHOLDER = re.compile(r'\{(?:[^{}"\n]|"[ \t]*\r?\n[ \t]*")*\}')


def _find_in(t: _Text, file: str, name: str, region: tuple, used: set, template: bool, rule_id: bool) -> Span | None:
    start, end = region
    if template:  # a name in a message: only inside a `{...}` placeholder
        for m in _PLACEHOLDER.finditer(t.text, start, max(start, end)):
            span = t.find(file, name, m.start(), m.end(), used)
            if span is not None:
                return span
        return None
    if t.text[start:start + 1] == '"' and name == t.text[start + 1:end - 1]:
        return t.span_at(file, start + 1, end - 1)  # a string that is all name: a code
    return t.find(file, name, start, end, used, rule_id)


def load_edited(path_or_name, texts: dict) -> LoadedPack:
    """Load and check a pack as ``packs.load`` does, reading ``texts`` (absolute path ->
    text) instead of those files on disk: the unsaved buffers of an editor. A ``.policy``
    path in ``texts`` inside the pack's folder is part of the pack even when it is not
    saved yet; every other file is read from disk under the usual limits."""
    return load(path_or_name, files=_EditedFiles(texts))


class _EditedFiles(PackFiles):
    def __init__(self, texts: dict) -> None:
        super().__init__()
        self._edited = {Path(p).resolve(): t for p, t in texts.items()}

    def read(self, path, root):
        real = Path(path).resolve()
        root = Path(root).resolve()
        if real in self._edited and (root == real or root in real.parents):
            return self._edited[real].encode("utf-8")
        return super().read(path, root)

    def policy_files(self, root) -> list:
        files = PackFiles.policy_files(root)
        real_root = Path(root).resolve()
        known = {p.resolve() for p in files}
        extra = [p for p in self._edited if p.suffix == ".policy" and real_root in p.parents and p not in known]
        if not extra:
            return files
        both = files + [Path(root) / p.relative_to(real_root) for p in extra]
        return sorted(both, key=lambda p: Path(p).relative_to(root).as_posix())


__all__ = ["DECLARATION_KINDS", "REFERENCE_SITES", "DeclKind", "Reference", "ReferenceSite", "Symbol",
           "declarations", "load_edited", "references"]
