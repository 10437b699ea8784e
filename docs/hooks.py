"""mkdocs hooks: regenerate every generated page whenever the site is built.

``mkdocs build --strict`` alone is enough: ``on_config`` writes the reference of every
bundled pack (``docs/reference/generated/<pack>/``, git-ignored) with
``rulecite.interpreter.reports.site`` and adds it to the navigation; it also lays out the
source tree mkdocstrings reads for the Python API page. ``on_page_markdown`` fills the
CLI reference (from the click app), the error-code catalogue (from ``CODES``) and the
Python API reference (every name of the public packages' ``__all__``, from their
docstrings: ``api_reference``).

To publish the reference of your own packs, use ``rulecite site PACK... --out DIR``: it
builds a standalone site with the same pages (``reports.site.publish``), no environment
variable needed. ``RULECITE_DOCS_PACKS`` (pack folders or bundled names, separated by
``os.pathsep``) replaces the bundled packs in *this* project's site; the tests use it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

import click
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from rulecite.policy_lang import CODES, bundled_names, load, render_text
from rulecite.interpreter.reports.markup import md_text
from rulecite.interpreter.reports.site.publish import SITE_CSS, site_sources

log = logging.getLogger("mkdocs.hooks.rulecite")

GENERATED = "reference/generated"
PACKS_ENV = "RULECITE_DOCS_PACKS"
CLI_MARK = "<!-- rulecite:cli-reference -->"
CODES_MARK = "<!-- rulecite:error-codes -->"
API_MARK = "<!-- rulecite:api-reference -->"
API_PACKAGES = ("rulecite.interpreter", "rulecite.policy_lang")
REQUIRES_MARK = re.compile(r"<!-- rulecite:requires ([A-Za-z0-9_.]+) -->")


# ---------------------------------------------------------------- pack reference


def _pack_names() -> list:
    chosen = os.environ.get(PACKS_ENV)
    if chosen:
        return [p for p in chosen.split(os.pathsep) if p]
    return bundled_names()


def _exercised(model) -> dict:
    """rule id -> names of the pack tests in which the rule fired (runs the pack tests)."""
    from rulecite.interpreter.api import RulePack
    from rulecite.interpreter.tools.packtest import rules_fired

    return rules_fired(RulePack(model))


def load_packs(names) -> list:
    """The checked models of the packs named (folders or bundled names); a pack with
    errors fails the build with its diagnostics."""
    models = []
    for name in names:
        loaded = load(name)
        if not loaded.ok:
            raise PluginError(f"pack `{name}` has errors; the reference cannot be generated:\n"
                              + render_text([d for d in loaded.diagnostics if d.severity == "error"],
                                            loaded.texts))
        models.append(loaded.pack)
    return models


def exercised_by_pack(models) -> dict:
    """pack name -> {rule id: pack tests in which it fired}; a pack whose tests cannot run
    gets an empty map (the site still builds) and a warning."""
    out = {}
    for model in models:
        try:
            out[model.name] = _exercised(model)
        except Exception as e:  # the docs still build when the pack tests cannot run
            log.warning("pack `%s`: running its tests for the reference failed: %s", model.name, e)
            out[model.name] = {}
    return out


def generate_reference(docs_dir: Path) -> list:
    """Write the reference of every pack; return mkdocs nav entries for them (the same
    pages ``rulecite site`` publishes: ``reports.site.publish.site_sources``)."""
    models = load_packs(_pack_names())
    nav, _ = site_sources(models, docs_dir, GENERATED, exercised=exercised_by_pack(models))
    return nav


# ---------------------------------------------------------------- Python API sources


def _api_tree(config_dir: Path) -> None:
    """Lay out ``build/apidoc/rulecite`` as the import name sees it (the distribution maps
    top-level folders into ``rulecite``; griffe reads folders), for mkdocstrings."""
    import rulecite
    import rulecite.interpreter
    import rulecite.policy_lang

    tree = config_dir / "build" / "apidoc" / "rulecite"
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    (tree / "__init__.py").symlink_to(Path(rulecite.__file__).resolve())
    for mod in (rulecite.interpreter, rulecite.policy_lang):
        (tree / mod.__name__.rsplit(".", 1)[1]).symlink_to(Path(mod.__file__).resolve().parent,
                                                           target_is_directory=True)


# ---------------------------------------------------------------- the Python API page


def data_description(pkg, name: str) -> str:
    """What an exported value (not a class or function) is, from its package's docstring:
    the paragraph starting ````NAME``: ...``; empty when the docstring has none."""
    m = re.search(rf"^``{re.escape(name)}``: (.+?)(?:\n\s*\n|\Z)", pkg.__doc__ or "", re.M | re.S)
    return " ".join(m.group(1).split()) if m else ""


def api_reference() -> str:
    """The Python API reference: for each public package, every name of its ``__all__``
    (functions, then classes, as mkdocstrings directives that render their docstrings;
    values as a table described by the package docstring). An object two packages
    export is rendered once, in the package that defines it, and named in the other."""
    import importlib
    import inspect

    packages = [importlib.import_module(p) for p in API_PACKAGES]

    def home(obj, pkg) -> str:
        mod = getattr(obj, "__module__", "") or ""
        owners = [p.__name__ for p in packages if mod == p.__name__ or mod.startswith(p.__name__ + ".")]
        return owners[0] if owners else pkg.__name__

    out: list = []
    for pkg in packages:
        names = list(pkg.__all__)
        objs = {n: getattr(pkg, n) for n in names}
        documented = [n for n in names if inspect.isfunction(objs[n]) or inspect.isclass(objs[n])]
        functions = [n for n in documented if inspect.isfunction(objs[n]) and home(objs[n], pkg) == pkg.__name__]
        classes = [n for n in documented if inspect.isclass(objs[n]) and home(objs[n], pkg) == pkg.__name__]
        elsewhere = [n for n in documented if home(objs[n], pkg) != pkg.__name__]
        data = [n for n in names if n not in documented]
        lead = (pkg.__doc__ or "").strip().split("\n\n")[0]
        out += [f"## `{pkg.__name__}`", "", md_text(" ".join(lead.split())), "",
                "```python", f"from {pkg.__name__} import {', '.join(names)}", "```", ""]
        for n in functions + classes:
            o = objs[n]
            out += [f"::: {o.__module__}.{o.__qualname__}", ""]
        if elsewhere:
            out += ["Also exported here: " + ", ".join(
                f"`{n}` (from `{home(objs[n], pkg)}`, below)" for n in elsewhere) + ".", ""]
        if data:
            out += ["### Data", "", "| Name | What it is |", "|---|---|"]
            for n in data:
                out.append(f"| `{n}` | {md_text(data_description(pkg, n)) or '(not described)'} |")
            out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- CLI and error codes


def cli_reference() -> str:
    """Markdown for every command of the ``rulecite`` click group."""
    try:
        from rulecite.cli.main import cli
    except ImportError as e:  # a broken CLI must not silently drop its reference: --strict fails
        log.warning("the CLI reference cannot be generated: rulecite.cli.main does not import (%s)", e)
        return '!!! failure "The command-line app could not be loaded when this site was built."\n'
    out: list = []

    def walk(cmd, path, ctx_parent):
        ctx = click.Context(cmd, info_name=path[-1], parent=ctx_parent)
        level = "#" * min(len(path) + 1, 4)
        name = " ".join(path)
        out.extend([f"{level} `{name}` {{#{'-'.join(path)}}}", ""])
        help_text = (cmd.help or "").strip()
        if help_text:
            out.extend([md_text(click.unstyle(help_text).split("\n\n")[0]), ""])
        out.extend(["```text", click.unstyle(cmd.get_help(ctx)).rstrip(), "```", ""])
        if isinstance(cmd, click.Group):
            for sub in sorted(cmd.list_commands(ctx)):
                sub_cmd = cmd.get_command(ctx, sub)
                if sub_cmd is not None and not getattr(sub_cmd, "hidden", False):
                    walk(sub_cmd, path + [sub], ctx)

    walk(cli, ["rulecite"], None)
    return "\n".join(out)


def error_code_reference() -> str:
    out = []
    groups = {"E1": "Syntax", "E2": "Names", "E3": "Types", "E4": "Windows and dates", "E5": "Packs",
              "E6": "Pack tests", "W7": "Warnings"}
    current = None
    for code in sorted(CODES):
        group = groups.get(code[:2], "Other")
        if group != current:
            current = group
            out += ["", f"## {group}", "", "| Code | Name | Meaning |", "|---|---|---|"]
        name, meaning = CODES[code]
        out.append(f"| <span id=\"{code}\"></span>`{code}` | `{name}` | {meaning} |")
    return "\n".join(out).strip() + "\n"


# ---------------------------------------------------------------- mkdocs events


def _insert_nav(nav: list, before: str, entry: dict) -> None:
    for i, item in enumerate(nav):
        if isinstance(item, dict) and before in item:
            nav.insert(i, entry)
            return
    nav.append(entry)


@event_priority(100)  # before mkdocstrings reads its search paths
def on_config(config, **kwargs):
    docs_dir = Path(config["docs_dir"])
    config_dir = Path(config["config_file_path"]).parent
    _api_tree(config_dir)
    # the one stylesheet of the generated pages, shipped in the package (rulecite site uses it too)
    (docs_dir / "stylesheets").mkdir(exist_ok=True)
    (docs_dir / "stylesheets" / "rulecite.css").write_text(SITE_CSS, encoding="utf-8")
    packs_nav = generate_reference(docs_dir)
    nav = config.get("nav")
    if nav is not None:
        nav = [dict(item) if isinstance(item, dict) else item for item in nav]
        _insert_nav(nav, "Reference", {"Rule packs": packs_nav})
        config["nav"] = nav
    return config


def _requires(match) -> str:
    """``<!-- rulecite:requires MODULE -->``: nothing when MODULE is in this build, else a
    visible note, so a guide never presents a missing feature as working."""
    import importlib.util

    module = match.group(1)
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if found:
        return ""
    return (f'!!! warning "Not in this build"\n\n    This page describes `{module}`, which this build '
            "of Rulecite does not include yet.\n")


def on_page_markdown(markdown, page, config, files, **kwargs):
    markdown = REQUIRES_MARK.sub(_requires, markdown)
    if CLI_MARK in markdown:
        markdown = markdown.replace(CLI_MARK, cli_reference())
    if CODES_MARK in markdown:
        markdown = markdown.replace(CODES_MARK, error_code_reference())
    if API_MARK in markdown:
        markdown = markdown.replace(API_MARK, api_reference())
    return markdown


_ROLE = re.compile(r":(?:class|func|meth|mod|attr|exc|data|obj):(<code>)")


def on_page_content(html, page, config, files, **kwargs):
    # Sphinx roles in docstrings (``:class:`X```) render as plain code on the API page.
    return _ROLE.sub(r"\1", html)
