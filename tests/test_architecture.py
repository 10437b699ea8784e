"""The layout by stage holds: the pipeline imports no tool and no report, the language knows
nothing of the interpreter or the CLI, there are no import cycles, no private name crosses a
module boundary, modules stay small enough to read (or say why not), and the architecture
guide names every module there is.

The imports are read from the source with ``ast`` (nothing is imported), so a rule broken
by a lazy import inside a function is caught too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"policy_lang": "rulecite.policy_lang", "interpreter": "rulecite.interpreter", "cli": "rulecite.cli"}
MAX_LINES = 500


def _modules() -> dict:
    """module name -> path, for every library module."""
    out = {}
    for folder, pkg in FOLDERS.items():
        for f in sorted((ROOT / folder).rglob("*.py")):
            parts = list(f.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([pkg] + parts)] = f
    return out


MODULES = _modules()


def _imports(name: str, path: Path, top_level_only: bool = False) -> list:
    """(imported module, imported names, line) for each import in one module, relative
    imports made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = pkg.split(".")
                if node.level > 1:
                    anchor = anchor[: -(node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [a.name for a in node.names]
            out.append((base, names, node.lineno))
            for n in names:  # `from pkg import submodule`
                if f"{base}.{n}" in MODULES:
                    out.append((f"{base}.{n}", [], node.lineno))
    return out


def _is(mod: str, prefix: str) -> bool:
    return mod == prefix or mod.startswith(prefix + ".")


PIPELINE = ("rulecite.policy_lang", "rulecite.interpreter.api", "rulecite.interpreter.explain",
            "rulecite.interpreter.codegen", "rulecite.interpreter.engine")
TOOLS = ("rulecite.interpreter.tools", "rulecite.interpreter.reports")


def test_the_tree_shows_the_pipeline():
    for folder in ("policy_lang/syntax", "policy_lang/check", "interpreter/codegen", "interpreter/engine",
                   "interpreter/tools", "interpreter/reports"):
        assert (ROOT / folder / "__init__.py").is_file(), folder
    assert len(MODULES) > 40


def test_the_pipeline_imports_no_tool_and_no_report():
    bad = []
    for name, path in MODULES.items():
        if not any(_is(name, p) for p in PIPELINE) or name == "rulecite.interpreter":
            continue
        for mod, _, line in _imports(name, path):
            if any(_is(mod, t) for t in TOOLS):
                bad.append(f"{name}:{line} imports {mod}")
    assert not bad, "\n".join(bad)


def test_the_language_knows_nothing_of_the_interpreter_or_the_cli():
    bad = []
    for name, path in MODULES.items():
        for mod, _, line in _imports(name, path):
            if _is(name, "rulecite.policy_lang") and (_is(mod, "rulecite.interpreter") or _is(mod, "rulecite.cli")):
                bad.append(f"{name}:{line} imports {mod}")
            if _is(name, "rulecite.interpreter") and _is(mod, "rulecite.cli"):
                bad.append(f"{name}:{line} imports {mod}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    graph = {name: sorted({m for m, _, _ in _imports(name, path, top_level_only=True) if m in MODULES and m != name})
             for name, path in MODULES.items()}
    # A package's __init__ re-exporting its own submodules is not a cycle through them.
    for name in graph:
        graph[name] = [m for m in graph[name] if not (MODULES[m].name == "__init__.py" and _is(name, m))]
    seen, stack, cycles = {}, [], []

    def visit(n):
        seen[n] = "open"
        stack.append(n)
        for m in graph[n]:
            if seen.get(m) == "open":
                cycles.append(" -> ".join(stack[stack.index(m):] + [m]))
            elif m not in seen:
                visit(m)
        stack.pop()
        seen[n] = "done"

    for n in sorted(graph):
        if n not in seen:
            visit(n)
    assert not cycles, "\n".join(cycles)


def test_no_private_name_is_imported_across_modules():
    bad = []
    for name, path in MODULES.items():
        for mod, names, line in _imports(name, path):
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    bad.append(f"{name}:{line} imports {n} from {mod}")
    assert not bad, "\n".join(bad)


def test_modules_are_small_or_say_why_not():
    bad = []
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if lines > MAX_LINES and not re.search(r"(?m)^Size: \S", doc):
            bad.append(f"{path.relative_to(ROOT)}: {lines} lines and no `Size:` reason in its docstring")
    assert not bad, "\n".join(bad)


def test_the_architecture_guide_names_every_module():
    guide = (ROOT / "docs" / "guides" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for name, path in MODULES.items():
        rel = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py" and path.stat().st_size < 400:
            continue
        if rel not in guide:
            missing.append(rel)
    assert not missing, "modules the architecture guide does not name:\n" + "\n".join(missing)
    for rel in re.findall(r"`((?:policy_lang|interpreter|cli)/[\w/]+\.py)`", guide):
        assert (ROOT / rel).is_file(), f"the guide names {rel}, which does not exist"
