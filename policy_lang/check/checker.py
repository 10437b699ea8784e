"""The checker: one ``Checker`` carries what the stages resolve, ``STAGES`` runs them in order.

Takes the pack's parsed modules, its configuration (``PackConfig``, from ``pack.toml``),
its facts schema and, for an extending pack, the checked parent; ``check`` gives
``(Pack | None, [Diagnostic])``. Each stage of ``STAGES`` is a function of the
``Checker``: it reads what earlier stages resolved, stores what it resolves, and adds
diagnostics; the checker never stops at the first error. Expressions are typed by the
``Expressions`` mixin (``expressions.py``), calls from the table of built-ins.

The checker reads no file: a test's facts file comes through ``PackConfig.read_file``,
a callable the loader provides.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs

from rulecite.policy_lang import types as T
from rulecite.policy_lang.check import citations, declarations, definitions, pack_tests, parameters, rules, timeline
from rulecite.policy_lang.check.expressions import FUNCTION_NAMES, FUNCTIONS, Expressions
from rulecite.policy_lang.errors import Diagnostic, did_you_mean
from rulecite.policy_lang.model import Citation, Pack, RecordShape, Window
from rulecite.policy_lang.syntax.nodes import Span

DEFAULT_MAX_DEPTH = 4


@attrs.define
class PackConfig:
    name: str
    version: str
    title: str
    language: str
    coverage: Window
    shape: RecordShape
    unknown_codes: str
    root: str
    explicit: dict = attrs.field(factory=dict)
    # How the checker reads a test facts file: the loader's ``PackFiles.read`` (regular
    # files inside the pack folder, capped), or None to read nothing from disk.
    read_file: object = attrs.field(default=None, eq=False, repr=False)
    # pack.toml ``[citations] require_primary``: a rule without a primary source is an error
    require_primary: bool = False


@attrs.frozen
class Stage:
    name: str
    run: Callable  # run(checker): reads and stores on the checker, adds diagnostics
    what: str


# The stages, in the order they run (each reads what the ones before it stored).
STAGES: tuple[Stage, ...] = (
    Stage("sources", declarations.sources, "sources: unique names, a title, a citation or url (E207, E108)"),
    Stage("source_kinds", citations.source_kinds, "every source's kind from the fixed set of tiers (E213)"),
    Stage("codes", declarations.codes, "the code catalog: windows, `replaced_by` (E207, E400, E202)"),
    Stage("sets", declarations.sets, "code sets: members resolved, no set includes itself (E203, E210)"),
    Stage("parameters", parameters.parameters, "dated parameters: constant values of one type, in date order, "
                                               "cited (E309, E405, E204, W703)"),
    Stage("definitions", definitions.definitions, "`def`s typed in call order, no recursion (E215, E307, E308)"),
    Stage("lets", declarations.lets, "derived values typed in dependency order, no cycles (E210, E2xx, E3xx)"),
    Stage("retirements", timeline.retirements, "`retire` declarations: a date and a citation (E108)"),
    Stage("rules", rules.rules, "rule ids and `override`, then each rule's scope, condition and texts typed"),
    Stage("timeline", timeline.versions, "windows made final: `supersedes`, `retire`, no overlapping versions "
                                         "(E205, E401, E403)"),
    Stage("citations", citations.citation_dates, "every rule on a primary source; no rule or code in force before "
                                                 "a source it cites (W702/E214, W703)"),
    Stage("suggestions", rules.suggestions, "`suggest` declarations typed (E207, E108, E202, E300)"),
    Stage("pack_tests", pack_tests.tests, "pack tests: facts read through `read_file`, expectations resolved (E6xx)"),
    Stage("programs", declarations.programs, "a code of a program that no rule can reach (W705)"),
    Stage("unused", declarations.unused, "sets and derived values nothing reads (W701)"),
)


class Checker(Expressions):
    """What the stages share: the inputs, what each stage resolved, and the diagnostics."""

    def __init__(self, modules, config: PackConfig, schema: dict, parent: Pack | None,
                 texts: dict, max_depth: int = DEFAULT_MAX_DEPTH):
        self.modules = modules
        self.cfg = config
        self.schema = schema
        self.parent = parent
        self.texts = texts
        self.max_depth = max_depth
        self.diags: list[Diagnostic] = []
        self.record_type = T.from_schema(schema, required=True)
        lines_t = self.record_type.field(config.shape.lines)
        self.line_type = lines_t.item if lines_t and lines_t.kind == "list" and lines_t.item else T.ANY
        self.used: set = set()
        # what the stages resolve, in STAGES order
        self.sources: dict = {}
        self.codes: dict = {}
        self.sets: dict = {}
        self.derived: dict = {}
        self.retirements: list = []
        self.inherited_rules: list = []  # the extended pack's rules not overridden (before `timeline`)
        self.own_rules: list = []  # this pack's rules, as declared (before `timeline`)
        self.rules: list = []
        self.suggestions: list = []
        self.tests: list = []
        self._line_cache: dict = {}
        self._fixed_names: dict | None = None  # facts, history and sets: the scope under every let
        self._let_names: dict | None = None  # Refs of self.derived, once the lets are checked
        # How deep quantifiers nest inside each `let` (counting through the lets it reads):
        # a `let` counts where it is used, so nesting cannot hide behind one.
        self.let_depth: dict = {}
        self.local_depth: dict = {}  # the same for the rule-local lets of the rule being checked
        self._deep_lets: set = set()  # lets already past the bound in their own definition

    def lines(self, file) -> list:
        """The lines of a pack file, split once (a pack may hold thousands of rules)."""
        if file not in self._line_cache:
            # split as the lexer counts lines (at \n only: a string may hold \u2028)
            self._line_cache[file] = [ln.removesuffix("\r") for ln in self.texts.get(file, "").split("\n")]
        return self._line_cache[file]

    def field_span(self, decl, key: str):
        """Where a declaration writes its field ``key`` (from the field word to the end
        of its line), for a caret under the field at fault rather than the declaration's
        first word; the declaration's span when the field is not written."""
        for k, line, _ in getattr(decl, "layout", ()):
            lines = self.lines(decl.span.file)
            if k == key and 1 <= line <= len(lines):
                text = lines[line - 1]
                start = len(text) - len(text.lstrip()) + 1
                return Span(decl.span.file, line, start, line, len(text.rstrip()) + 1)
        return decl.span

    def inverted_window(self, what: str, decl) -> None:
        """E400 for a declaration whose `until` comes before its `effective`: the caret
        under the `until` line, the usual cause (two dates swapped) as the hint."""
        self.err("E400", f"{what} ends ({decl.until}) before it starts ({decl.effective})",
                 self.field_span(decl, "until"),
                 ["`effective` is the first day in force and `until` the last: are the two dates swapped?"])

    def err(self, code, msg, span, hints=(), severity="error"):
        self.diags.append(Diagnostic(code, msg, span, tuple(hints), severity))

    def decls(self, kind):
        for m in self.modules:
            for d in m.decls:
                if isinstance(d, kind):
                    yield m, d

    def citations(self, cites, span) -> tuple:
        out = []
        for c in cites:
            src = self.sources.get(c.source)
            if src is None:
                self.err("E204", f"unknown source `{c.source}`", c.span, did_you_mean(c.source, self.sources))
                continue
            self.used.add(("source", src.name))
            out.append(Citation(src, c.section, c.page, c.quote, c.restates))
        return tuple(out)

    def run(self) -> Pack | None:
        for stage in STAGES:
            stage.run(self)
        if any(d.severity == "error" for d in self.diags):
            return None
        p = self.parent
        return Pack(
            name=self.cfg.name, version=self.cfg.version, title=self.cfg.title, language=self.cfg.language,
            extends=((p.name,) + p.extends) if p else (), coverage=self.cfg.coverage, shape=self.cfg.shape,
            unknown_codes=self.cfg.unknown_codes, schema=self.schema, record_type=self.record_type,
            sources=tuple(sorted(self.sources.values(), key=lambda s: s.name)),
            codes=tuple(sorted(self.codes.values(), key=lambda c: c.name)),
            sets=tuple(sorted(self.sets.values(), key=lambda s: s.name)),
            derived=tuple(self.derived.values()), definitions=tuple(getattr(self, "defs", {}).values()),
            parameters=tuple(sorted(getattr(self, "params", {}).values(), key=lambda p: p.name)),
            rules=tuple(self.rules), retirements=tuple(self.retirements),
            suggestions=tuple(self.suggestions), tests=tuple(self.tests), root=self.cfg.root,
            warnings=tuple(d for d in self.diags if d.severity == "warning"),
        )


def check(modules, config: PackConfig, schema: dict, parent: Pack | None = None, texts=None,
          max_depth: int = DEFAULT_MAX_DEPTH, unparsed: frozenset | None = None):
    """Check modules into a Pack. Returns (pack or None, diagnostics).

    ``unparsed``: when some text of the pack did not parse (its syntax errors are
    reported by the parser), the names its declarations would have declared; the
    modules are then what did parse. No pack is made, and what only says that one of
    those names is unknown (or that a value is unused: its use may be in that text)
    is left out, so each mistake is reported once, by the parser."""
    ck = Checker(modules, config, schema, parent, texts or {}, max_depth)
    pack = ck.run()
    if unparsed is None:
        return pack, ck.diags
    return None, [d for d in ck.diags if not about_unparsed(d, unparsed)]


# Codes that only say a name is unknown (or unused; E604: a test's unknown base): after a
# syntax error they may be about a declaration that did not parse.
UNRESOLVED_CODES = frozenset({"E200", "E202", "E203", "E204", "E205", "E206", "E209", "E601", "E604"})


def about_unparsed(d: Diagnostic, names: frozenset) -> bool:
    """Whether ``d`` may be only an echo of text that did not parse: an unused-value
    warning, or an unknown name that text would have declared (a name given as
    `start*` is one the broken text cut short, as in `let first_}onth = ...`: any name
    with that start)."""
    if d.code == "W701":
        return True
    if d.code not in UNRESOLVED_CODES:
        return False
    quoted = {a or b for a, b in re.findall(r"`([^`]+)`|\"([^\"]+)\"", d.message)}
    return bool(quoted & names) or any(q.startswith(n[:-1]) for q in quoted for n in names if n.endswith("*"))


# FUNCTIONS and FUNCTION_NAMES are read here by the compiler (``FUNCTIONS[name][:2]``: arity).
__all__ = ["DEFAULT_MAX_DEPTH", "FUNCTIONS", "FUNCTION_NAMES", "STAGES", "UNRESOLVED_CODES", "Checker", "PackConfig",
           "Stage", "about_unparsed", "check"]
