"""Expressions of a checked pack as Python expression text, and the module parts they need.

Takes a ``Pack`` and, one at a time, expressions of its rules, derived values and
suggestions (with the Python names of the variables in scope); gives Python expression
text, and, as it goes, the module-level parts that text calls: named sets
(``set_CCM_CODES``), other constants (``_K3``), derived values (``let_chronic_count``),
each compiled once and only when first read, and loop functions of quantifiers and
aggregates (``any_ccm_99439_minutes``). Each part is a unit: a list of
(source line, ``Origin``) pairs, opened by a ``# kind NAME file:line`` comment.

Every token written comes from ``tokens`` (tables, checked identifiers, ``repr``
literals); see the module docstring of ``compiler`` for the safety and the bounds.

Cheaper forms on the hot path, each giving the same values, steps and failures as the
plain one: a built-in is called through its own name in the module (``_f_len``), not the
runtime's table; ``len`` of a value that is always a list is Python's; a `collect` drops
absent values in its loop; a definition charges its step in place; a loop reads the
fields of the rule's line and the optional top-level facts it compares once, before it
walks (reads that cannot fail, each keeping its fact path for failure messages); a rule's
own reads that cannot fail are read once atop each function that runs it (``hoist``); a read
that surely ran before, in one item's or one rule's code, is reused from its temporary
(``share``: the first operand of `and`/`or`, a condition before its branches, an earlier
`let`); a loop over a source that is surely a list is not called when it is empty; a
derived value's slot is read at its call site, its function called only while unset.

What an expression reads (its schema type, whether it may be absent, what a finding
shows and where in the facts) is ``reads``; the module-level parts expressions call
(sets, constants, dated parameters, derived values, definitions, loop functions) are
written by ``parts``, a mixin of the ``Emitter`` that shares its state.
"""

from __future__ import annotations



from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.check.checker import FUNCTIONS as SIGNATURES
from rulecite.policy_lang.model import Apply, Concat, Ref
from rulecite.policy_lang.types import Type

from rulecite.interpreter.codegen import runtime
from rulecite.interpreter.codegen.reads import expression_type, is_optional, surely_number
from rulecite.interpreter.codegen.origins import Origin
from rulecite.interpreter.codegen.parts import ModuleParts
from rulecite.interpreter.codegen.tokens import (
    BINOPS, CMPOPS, LITERALS, REF_KINDS, SPECIAL_CALLS, SPECIALS, CompileError, Names,
    ident, lit, pick, show, text,
)

# Names the module defines itself, or its namespace and builtins give: no name made from
# pack text can take one (those all start with a kind prefix, never with `_`).
FIXED_NAMES = ("_decide", "_LINE", "_LINE_GENERIC", "_SGENERIC", "_SRECORD", "_rt",
               "_E", "_fmt", "_Exception", "_num", "_U", "_state", "frozenset", "dict", "any", "all", "sum", "len",
               "min", "max", "bool", "enumerate", "tuple", "list", "None",
               *(ident("_f_", name) for name in runtime.FUNCTIONS))


class Emitter(ModuleParts):
    """Compiles expressions; collects the units and constants they need (see the module doc)."""

    def __init__(self, pack, known=None):
        self.pack = pack
        # which citations the publication clock knows: a dated parameter's value is written
        # only when some citation of it is known (``compiler._known``); None: every value
        self.known = known
        self.params: dict = {}  # parameter name -> its constant's name
        self.names = Names(FIXED_NAMES)
        self.consts: dict = {}  # python literal text -> const name
        self.const_lines: list = []  # (line, origin) of every constant, in order of first use
        self.sets: dict = {}  # set name -> const name
        self.units: list = []  # module-level functions: each a list of (line, origin)
        self.tmp = 0
        self.owner: Origin | None = None  # what the code being compiled belongs to
        self.let_slots: dict = {}  # top-level let name -> its slot in the state list `_m`
        self.let_fns: dict = {}  # top-level let name -> its function's name
        self.let_index: dict = {}
        for k, dv in enumerate(pack.derived):
            if ident("", dv.name) in self.let_index:
                raise CompileError(f"derived value `{dv.name}` is defined twice")
            self.let_index[dv.name] = k
        self.let_limit = None  # while a let compiles: it may read only the lets before it
        self.def_fns: dict = {}  # definition name -> its function's name
        self.def_active: set = set()  # definitions being compiled (a forged cycle is refused)
        # Read templates for telling which fact a failing expression read (see ``origins``):
        # code text of a read, or a temporary holding one -> JSON path template.
        self.paths: dict = {"ln": "$." + text(pack.shape.lines, "the record's lines") + "[{ln}]"}
        self.loops: dict = {}  # loop variable -> the loop function walking it
        # (quantifier or aggregate node, scope) -> (node, call): a loop read twice (in a
        # rule's condition and in its finding's evidence) is one function. Keyed by identity.
        self.loop_calls: dict = {}
        # While a loop's body compiles: its reads that cannot fail and do not change across
        # its items (a field of the rule's line, an optional top-level fact), each read once
        # into a local before the loop (read text -> local); None elsewhere.
        self.hoisted: dict | None = None
        # While a rule's or suggestion's own code compiles (not its loops, lets or definitions):
        # the pack-wide names of its reads that cannot fail (an optional top-level fact, a field
        # of its line), read once at the top of each function that runs it (``_h<n>``, one name
        # a read, so every block of a line group shares them); None elsewhere.
        self.hoist_names: dict | None = None
        # Reads shared inside one expression or statement run (``share``): read key -> the
        # temporary holding it, for the reads surely made before the code being written runs
        # (the first operand of `and`/`or`, a condition before its branches, an earlier `let`);
        # None where nothing is shared (messages, evidence, a loop's source).
        self.avail: dict | None = None
        self.cse_keys: dict = {}  # a temporary (or its `:=` text) -> the key of the read it holds
        self.block_names: dict = {}
        # the rule `let`s (their local names) of the item being compiled whose value is always
        # a list (``surely_list``): the compiler sets it per rule
        self.list_lets: frozenset = frozenset()

    def fresh(self) -> str:
        self.tmp += 1
        return f"_t{self.tmp}"

    def temp(self, value: str) -> str:
        """A fresh temporary to hold ``value`` (it keeps the fact path of ``value``)."""
        t = self.fresh()
        if value in self.paths:
            self.paths[t] = self.paths[value]
        return t

    # ------------------------------------------------------------ expressions
    def x(self, e, env: dict) -> str:
        method = _EXPRESSIONS.get(type(e))
        if method is None:
            raise CompileError(f"not an expression: {show(e)}")
        return method(self, e, env)

    def x_Ref(self, e: Ref, env):
        kind = pick(REF_KINDS, e.kind, "name kind")
        name = e.name
        if kind == "special":
            return pick(SPECIALS, name, "special name")
        ident("", name)
        if kind == "var" or (kind == "let" and name in env):
            if name not in env:
                raise CompileError(f"`{name}` is not in scope here")
            return env[name]
        if kind == "let":
            return self.let_call(name)
        if kind == "param":
            return self.param_read(name)
        if kind == "set":
            return self.set_const(name)
        # a top-level fact field
        t = e.type
        if type(t) is not Type:
            raise CompileError(f"the type of `{name}` is not a type")
        if t.kind == "list":
            out = f"(rec.get({name!r}) or ())"
        elif t.default is not None:
            out = f"rec.get({name!r}, {lit(t.default)})"
        elif not t.optional:
            out = f"rec[{name!r}]"
        else:
            out = f"rec.get({name!r})"
        self.paths[out] = "$." + name
        if out.startswith(("rec.get(", "(rec.get(")) and self.hoisted is not None:
            return self.hoist(out)
        return self.share(out, out)

    def x_Field(self, e: ast.Field, env):
        name = ident("", e.name)
        obj = self.x(e.obj, env)
        ot = expression_type(e.obj)
        ft = expression_type(e)
        if type(ot) is not Type or ot.kind != "record":
            # Untyped by the schema: any JSON value may come, and a field of a non-object is absent.
            form = f"_rt.field(\0, {name!r})"
        else:
            if ft is not None and type(ft) is not Type:
                raise CompileError(f"the type of `{name}` is not a type")
            base = "(\0 or _E)" if ot.optional else "\0"
            if ft is not None and ft.kind == "list":
                form = f"({base}.get({name!r}) or ())"
            elif ft is not None and ft.default is not None:
                form = f"{base}.get({name!r}, {lit(ft.default)})"
            elif ft is not None and not ft.optional and not ot.optional and obj != "ln":
                # A field the schema requires of an item (a line's own fields stay reads that
                # cannot fail, read once atop each function): a valid record has it, and a
                # trusted record without it fails here, naming the rule and the fact path.
                form = f"\0[{name!r}]"
            else:
                form = f"{base}.get({name!r})"
        out = form.replace("\0", obj)
        if obj in self.paths:
            self.paths[out] = f"{self.paths[obj]}.{name}"
        if obj == "ln" and out.startswith(("ln.get(", "(ln.get(")) and self.hoisted is not None:
            return self.hoist(out)  # the line's own field: `ln` is an object (the dispatch read its code)
        return self.share(out, ("field", self.cse_keys.get(obj, obj), form))

    def share(self, out: str, key) -> str:
        """``out``, a read (of a fact, a field) that gives the same value wherever it runs in
        one item's or one rule's code: the temporary holding it when the same read surely ran
        before (``avail``), else ``out`` stored into a new one (it keeps the read's fact path)."""
        if self.avail is None:
            return out
        t = self.avail.get(key)
        if t is not None:
            return t
        t = self.temp(out)
        w = f"({t} := {out})"
        if out in self.paths:
            self.paths[w] = self.paths[out]
        self.avail[key] = t
        self.cse_keys[t] = self.cse_keys[w] = key
        return w

    def cx(self, e, env) -> str:
        """``e`` compiled where it may not run (a branch, a later operand of `and`): it may use
        the reads surely made before it, and what it reads is not shared past it."""
        saved = self.avail
        self.avail = dict(saved) if saved is not None else None
        try:
            return self.x(e, env)
        finally:
            self.avail = saved

    def cx_all(self, items, env) -> list:
        """``items`` compiled in order where only the first surely runs, each after the one
        before it (the later operands of `and` and `or`)."""
        saved = self.avail
        self.avail = dict(saved) if saved is not None else None
        try:
            return [self.x(i, env) for i in items]
        finally:
            self.avail = saved

    def surely_list(self, e, env) -> bool:
        """Whether ``e``'s compiled code gives a list (or tuple) whatever the record holds, never
        absent: a `collect`, a list literal, a concatenation, a list-typed fact or field
        (compiled with ``or ()``), or a rule `let` holding one of those."""
        if isinstance(e, ast.Fold):
            return e.func == "collect"
        if isinstance(e, (ast.ListLit, Concat)):
            return True
        if isinstance(e, Ref):
            if e.kind == "let" and e.name not in env:  # a derived value: its expression, one level
                k = self.let_index.get(e.name)
                x = self.pack.derived[k].expr if k is not None else None
                return (isinstance(x, ast.Fold) and x.func == "collect") or isinstance(x, (ast.ListLit, Concat)) or (
                    isinstance(x, Ref) and x.kind == "fact" and type(x.type) is Type and x.type.kind == "list")
            if e.kind == "let":
                return e.name in env and env[e.name] in self.list_lets
            return e.kind == "fact" and type(e.type) is Type and e.type.kind == "list"
        if isinstance(e, ast.Field):
            ot, ft = expression_type(e.obj), expression_type(e)
            return type(ot) is Type and ot.kind == "record" and type(ft) is Type and ft.kind == "list"
        return False

    def hoist(self, read: str) -> str:
        """The local holding ``read`` in the loop being compiled (it keeps the read's fact path)."""
        local = self.hoisted.get(read)
        if local is None and self.hoist_names is not None:
            local = self.hoist_names.get(read)
            if local is None:
                local = self.hoist_names[read] = self.names.reserve(f"_h{len(self.hoist_names)}")
                if read in self.paths:
                    self.paths[local] = self.paths[read]
            self.hoisted[read] = local
        elif local is None:
            local = self.hoisted[read] = self.temp(read)
        return local

    def hoisting(self, reads: dict | None):
        """Start (``reads``: a dict that collects them) or end (None) the hoisting of a rule's or
        suggestion's own reads that cannot fail, each under its pack-wide name (``hoist``)."""
        self.hoisted, self.hoist_names = reads, (self.block_names if reads is not None else None)

    @staticmethod
    def hoisted_reads(reads: dict) -> list:
        """The statements that read ``reads`` (read -> ``_h<n>``), in the order of their names."""
        return [f"{local} = {read}" for read, local in sorted(reads.items(), key=lambda kv: int(kv[1][2:]))]

    def x_Literal(self, e: ast.Literal, env):
        kind = pick({k: k for k in LITERALS}, e.kind, "literal kind")
        if type(e.value) is not LITERALS[kind]:
            raise CompileError(f"the {kind} literal holds {show(e.value)}")
        if kind == "decimal":
            try:
                return lit(float(e.value))
            except ValueError:
                raise CompileError(f"a decimal literal holds {show(e.value)}") from None
        return lit(e.value)

    def x_ListLit(self, e: ast.ListLit, env):
        if type(e.items) is not tuple:
            raise CompileError("a list literal's items must be a tuple")
        if all(isinstance(i, ast.Literal) for i in e.items):
            return self.const("(" + "".join(self.x(i, env) + ", " for i in e.items) + ")")
        return "[" + ", ".join(self.x(i, env) for i in e.items) + "]"

    def x_Not(self, e, env):
        return f"(not {self.x(e.operand, env)})"

    def x_Neg(self, e, env):
        v = self.x(e.operand, env)
        if not is_optional(e.operand):
            return f"(-{v})"
        t = self.temp(v)
        return f"(None if ({t} := {v}) is None else -{t})"

    def x_BinOp(self, e: ast.BinOp, env):
        op = pick(BINOPS, e.op, "arithmetic operator")
        a = self.x(e.left, env)
        both = op == "/" or (not is_optional(e.left) and not is_optional(e.right))  # else b runs only if a is set
        b = self.x(e.right, env) if both else self.cx(e.right, env)
        if op == "/":
            return f"_rt.div({a}, {b})"
        # An operand that may hold text or a list at run time is checked before the operator
        # runs: `*` of text or a list repeats it (gigabytes from a two-byte value), `+` joins.
        a = a if surely_number(e.left, op) else f"_rt.number({a})"
        b = b if surely_number(e.right, op) else f"_rt.number({b})"
        if not is_optional(e.left) and not is_optional(e.right):
            return f"_num({a} {op} {b})"
        ta, tb = self.temp(a), self.temp(b)
        return f"(None if ({ta} := {a}) is None or ({tb} := {b}) is None else _num({ta} {op} {tb}))"

    def x_Compare(self, e: ast.Compare, env):
        op = pick(CMPOPS, e.op, "comparison operator")
        oa, ob = is_optional(e.left), is_optional(e.right)
        if ob and not oa:  # written `(t := b) is not None and a op t`: b runs first, a only if b is set
            b = self.x(e.right, env)
            a = self.cx(e.left, env)
        else:
            a = self.x(e.left, env)
            b = self.x(e.right, env) if not oa and not ob else self.cx(e.right, env)
        if not oa and not ob:
            return f"({a} {op} {b})"
        if oa and not ob:
            t = self.temp(a)
            return f"(({t} := {a}) is not None and {t} {op} {b})"
        if ob and not oa:
            t = self.temp(b)
            return f"(({t} := {b}) is not None and {a} {op} {t})"
        ta = self.temp(a)
        if op == "==":  # a set value never equals an absent one: `ta == b` is false when b is absent
            return f"(({ta} := {a}) is not None and {ta} == {b})"
        tb = self.temp(b)
        return f"(({ta} := {a}) is not None and ({tb} := {b}) is not None and {ta} {op} {tb})"

    def x_In(self, e: ast.In, env):
        if type(e.negated) is not bool:
            raise CompileError("`in` must be negated or not")
        a = self.x(e.left, env)
        fixed = isinstance(e.right, ast.ListLit) and all(isinstance(i, ast.Literal) for i in e.right.items)
        if fixed:  # a literal list is a frozenset constant (its tuple would be unused)
            b = self.const("frozenset(" + "(" + "".join(self.x(i, env) + ", " for i in e.right.items) + "))")
        else:
            b = self.cx(e.right, env)  # runs only once `a` is known to be set
            if not (isinstance(e.right, Ref) and e.right.kind == "set"):
                # A list computed at run time is walked by `in`: that costs its length in steps.
                t = self.temp(a)
                neg = "not " if e.negated else ""
                return f"(({t} := {a}) is not None and {neg}_rt.isin({t}, {b}, _m))"
        if not e.negated:
            if is_optional(e.left):
                t = self.temp(a)
                return f"(({t} := {a}) is not None and {t} in {b})"
            return f"({a} in {b})"
        t = self.temp(a)
        return f"(({t} := {a}) is not None and {t} not in {b})"

    def x_And(self, e: ast.And, env):
        if type(e.items) is not tuple or not e.items:
            raise CompileError("`and` needs operands")
        return "(" + " and ".join([self.x(e.items[0], env)] + self.cx_all(e.items[1:], env)) + ")"

    def x_Or(self, e: ast.Or, env):
        if type(e.items) is not tuple or not e.items:
            raise CompileError("`or` needs operands")
        return "(" + " or ".join([self.x(e.items[0], env)] + self.cx_all(e.items[1:], env)) + ")"

    def x_Call(self, e: ast.Call, env):
        func = e.func
        if type(func) is not str or (func not in SPECIAL_CALLS and func not in runtime.FUNCTIONS):
            raise CompileError(f"function {show(func)} is not one the language has")
        if type(e.args) is not tuple:
            raise CompileError(f"the arguments of `{func}` must be a tuple")
        lo, hi = (SPECIAL_CALLS[func],) * 2 if func in SPECIAL_CALLS else SIGNATURES[func][:2]
        if not lo <= len(e.args) <= hi:
            raise CompileError(f"`{func}` takes {lo}..{hi} argument(s), not {len(e.args)}")
        if func == "default":  # the fallback runs only when the first is absent
            args = [self.x(e.args[0], env), self.cx(e.args[1], env)]
        else:
            args = [self.x(a, env) for a in e.args]
        if func == "present":
            return f"({args[0]} is not None)"
        if func == "program_of":
            table = {text(c.name, "a code"): text(c.program, "a program")
                     for c in self.pack.codes if c.program is not None}
            const = self.const("{" + "".join(f"{lit(k)}: {lit(v)}, " for k, v in sorted(table.items())) + "}",
                               "_PROGRAM_OF")
            return f"{const}.get({args[0]})"
        if func == "len" and self.surely_list(e.args[0], env):
            return f"len({args[0]})"  # `len_` gives 0 for absent: this value never is
        if func == "default":
            t = self.temp(args[0])
            return f"({t} if ({t} := {args[0]}) is not None else {args[1]})"
        # each built-in is bound in the module's namespace as ``_f_NAME`` (``CompiledPack._load``)
        return ident("_f_", func) + "(" + ", ".join(args) + ")"

    def x_Apply(self, e: Apply, env):
        if type(e.args) is not tuple:
            raise CompileError("the arguments of a definition's call must be a tuple")
        fn, n = self.def_fn(e.name)
        if len(e.args) != n:
            raise CompileError(f"definition `{e.name}` takes {n} argument(s), not {len(e.args)}")
        args = "".join(", " + self.x(a, env) for a in e.args)
        return f"{fn}(rec, hist, ln, sd, _m{args})"

    def x_If(self, e: ast.If, env):
        cond = self.x(e.cond, env)  # runs first; then one branch
        return f"({self.cx(e.then, env)} if {cond} else {self.cx(e.else_, env)})"

    def x_Concat(self, e: Concat, env):
        return f"_rt.concat({self.x(e.left, env)}, {self.x(e.right, env)}, _m)"

_EXPRESSIONS = {
    Ref: Emitter.x_Ref, ast.Field: Emitter.x_Field, ast.Literal: Emitter.x_Literal,
    ast.ListLit: Emitter.x_ListLit, ast.Not: Emitter.x_Not, ast.Neg: Emitter.x_Neg,
    ast.BinOp: Emitter.x_BinOp, ast.Compare: Emitter.x_Compare, ast.In: Emitter.x_In,
    ast.And: Emitter.x_And, ast.Or: Emitter.x_Or, ast.Call: Emitter.x_Call,
    ast.Quant: Emitter.x_Quant, ast.Fold: Emitter.x_Fold, Apply: Emitter.x_Apply, ast.If: Emitter.x_If,
    Concat: Emitter.x_Concat,
}
