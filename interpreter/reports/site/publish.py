"""A published site for any set of packs: their references as one mkdocs-material site.

``site_sources`` writes the Markdown of every pack's reference (``reports.site``) and the
"All packs" index under a docs folder and returns the mkdocs navigation for them: the
project's docs hook (``docs/hooks.py``) and ``rulecite site`` both call it, so a site
published for any pack has the pages the project's site has for the bundled packs.
``build_site`` lays out a standalone mkdocs project in a temporary folder (this module's
configuration, theme and stylesheet: nothing is read from the Rulecite checkout, so it
works from an installed wheel) and builds it, strict, into the output folder.

mkdocs is imported only by ``build_site`` (the ``docs`` extra); a missing one is a
``SiteError``, as is an output folder that cannot be written or that holds files another
program put there (the build replaces the folder's contents, so it only ever replaces a
site it built: the marker file ``.rulecite-site`` lists every file the build wrote, and a
folder holding anything else, a file added since or a marker with no list, is refused; the
list is only ever a check, never what is deleted).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

from rulecite.interpreter.reports.markup import md_text, nav_text
from rulecite.interpreter.reports.site import reference_nav, write_pack_reference
from rulecite.policy_lang.errors import RuleciteError
from rulecite.policy_lang.model import Pack

MARKER = ".rulecite-site"
MARKER_HEAD = "built by rulecite site"  # the marker's first line; every further line is a file built

# The stylesheet the generated pages need on top of Material: one file, shipped with the
# package; the project's docs build writes it into docs/stylesheets/ (docs/hooks.py).
SITE_CSS = (Path(__file__).parent / "rulecite.css").read_text(encoding="utf-8")

# The Markdown extensions of the project's mkdocs.yml that the generated pages use.
MARKDOWN_EXTENSIONS = [
    "admonition", "attr_list", "md_in_html", "tables", "def_list", {"toc": {"permalink": True}},
    "pymdownx.details", {"pymdownx.highlight": {"pygments_lang_class": True}}, "pymdownx.inlinehilite",
    "pymdownx.superfences",
]


class SiteError(RuleciteError):
    """The site cannot be built: mkdocs is missing, the output folder cannot be used, or
    the build failed (its warnings are the message)."""


def packs_index(models: Sequence[Pack], link_prefix: str = "") -> str:
    """The "Rule packs" page: one row per pack (name linked to its overview, title,
    version, number of rules). ``link_prefix`` leads from the page to the packs' folders."""
    rows = ["# Rule packs", "",
            "The reference of each pack is generated from the pack itself at every build, "
            "so it shows exactly the rules that run.", ""]
    if not models:
        return "\n".join(rows + ["No pack is bundled yet.", ""])
    rows += ["| Pack | Title | Version | Rules |", "|---|---|---|---|"]
    for m in models:
        rows.append(f"| [{md_text(m.name)}]({link_prefix}{m.name}/index.md) | {md_text(m.title)} | "
                    f"{md_text(m.version)} | {len(m.rule_ids)} |")
    return "\n".join(rows) + "\n"


def site_sources(models: Sequence[Pack], docs_dir: Path, prefix: str, *,
                 exercised: Mapping | None = None) -> tuple:
    """Write every pack's reference under ``docs_dir/prefix/<pack>/`` and the packs index
    ``docs_dir/prefix/index.md``; remove files left there by an earlier build. Return
    ``(nav, paths written)``: the mkdocs navigation (``All packs`` then one section per
    pack) and the files. ``exercised`` maps a pack name to its ``{rule id: test names}``."""
    root = Path(docs_dir) / prefix
    keep: set = set()
    nav: list = []
    for model in models:
        keep.update(write_pack_reference(model, root / model.name, exercised=(exercised or {}).get(model.name)))
        nav.append({nav_text(model.title): reference_nav(model, f"{prefix}/{model.name}")})
    index = root / "index.md"
    root.mkdir(parents=True, exist_ok=True)
    text = packs_index(models)
    if not index.is_file() or index.read_text(encoding="utf-8") != text:
        index.write_text(text, encoding="utf-8")
    keep.add(index)
    for stale in sorted(root.rglob("*"), reverse=True):
        if stale.is_file() and stale not in keep:
            stale.unlink()
        elif stale.is_dir() and not any(stale.iterdir()):
            stale.rmdir()
    return [{"All packs": f"{prefix}/index.md"}] + nav, sorted(keep)


def site_config(models: Sequence[Pack], nav: list) -> dict:
    """The mkdocs configuration of a standalone site for ``models`` (JSON is YAML)."""
    name = models[0].title if len(models) == 1 else "Rule packs"
    return {
        "site_name": nav_text(name),  # mkdocs-material writes it into pages unescaped, as nav titles
        "site_description": "Rule pack reference generated by Rulecite",
        "docs_dir": "docs", "use_directory_urls": True,
        "theme": {"name": "material", "language": "en",
                  "features": ["navigation.sections", "navigation.top", "navigation.footer", "search.highlight",
                               "content.code.copy", "toc.follow"],
                  "palette": [{"scheme": "default", "primary": "indigo", "accent": "indigo"}]},
        "extra_css": ["stylesheets/rulecite.css"],
        "markdown_extensions": MARKDOWN_EXTENSIONS,
        "plugins": ["search"],
        "nav": [{"Home": "index.md"}] + nav,
    }


def check_out_dir(out_dir: Path) -> None:
    """Raise ``SiteError`` unless ``out_dir`` can take the site: creatable, writable, and
    empty or a site built here before: everything in it (files and links, never followed)
    listed in its ``.rulecite-site`` marker, so nothing another program or a person put
    there is ever deleted by a rebuild."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SiteError(f"`{out}` is a file, not a folder", hints=("give --out a folder (created when missing)",))
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".rulecite-probe-", delete=True)
        probe.close()
    except OSError as e:
        raise SiteError(f"cannot write to `{out}`: {e.strerror or e}",
                        hints=("choose a folder you can write to",)) from None
    if not any(not p.name.startswith(".rulecite-probe-") for p in out.iterdir()):
        return
    marker = out / MARKER
    built = _built_files(marker)
    if built is None:
        raise SiteError(f"`{out}` is not empty and holds no site built by `rulecite site` (no {MARKER} file "
                        "listing the files it built): building would replace its contents",
                        hints=("give an empty or new folder",)) from None
    others = []
    for rel in _entries(out):  # stops at the sixth stranger: a marker put in `/` never walks the disk
        if rel != MARKER and not rel.startswith(".rulecite-probe-") and rel not in built:
            others.append(rel)
            if len(others) > 5:
                break
    if others:
        shown = ", ".join(others[:5]) + (" and more" if len(others) > 5 else "")
        raise SiteError(f"`{out}` holds a site built by `rulecite site` and files it did not write: {shown}; "
                        "building would delete them",
                        hints=("move them out of the folder, or give an empty or new folder",)) from None


def _entries(root: Path):
    """Every file and link under ``root`` (links to folders too, never followed), as
    relative paths with ``/``, folder by folder in name order."""
    for here, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        rel = Path(here).relative_to(root)
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(here, d))]):
            yield (rel / name).as_posix()


def _built_files(marker: Path) -> set | None:
    """The files a marker lists, or None when it is no marker ``build_site`` wrote."""
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        lines = marker.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or lines[0] != MARKER_HEAD:
        return None
    return set(lines[1:])


def build_site(models: Sequence[Pack], out_dir: Path, *, exercised: Mapping | None = None) -> list:
    """Build the standalone site of ``models`` into ``out_dir`` (strict: a warning fails
    the build); return the HTML pages written, sorted. ``exercised`` as for
    :func:`site_sources`. Raises :class:`SiteError` (never leaves a half-built site:
    the build goes to a temporary folder first)."""
    try:
        from mkdocs.commands.build import build
        from mkdocs.config import load_config
        from mkdocs.exceptions import Abort, MkDocsException
        import material  # noqa: F401 - the theme
    except ImportError as e:
        raise SiteError(f"building a site needs mkdocs and mkdocs-material, which are not installed ({e.name})",
                        hints=("pip install 'rulecite[docs]'",)) from None
    out = Path(out_dir)
    check_out_dir(out)
    with tempfile.TemporaryDirectory(prefix="rulecite-site-") as tmp:
        work = Path(tmp)
        docs = work / "docs"
        nav, _ = site_sources(models, docs, "packs", exercised=exercised)
        home = packs_index(models, "packs/")
        (docs / "index.md").write_text(home, encoding="utf-8")
        (docs / "stylesheets").mkdir()
        (docs / "stylesheets" / "rulecite.css").write_text(SITE_CSS, encoding="utf-8")
        config_file = work / "mkdocs.yml"
        config_file.write_text(json.dumps(site_config(models, nav), indent=1), encoding="utf-8")
        built = work / "site"
        os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
        try:
            cfg = load_config(str(config_file), site_dir=str(built), strict=True)
            build(cfg)
        except (Abort, MkDocsException) as e:
            raise SiteError(f"mkdocs could not build the site: {e}") from None
        (built / MARKER).write_text("\n".join([MARKER_HEAD, *sorted(_entries(built))]) + "\n", encoding="utf-8")
        for old in list(out.iterdir()):
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()
        for item in built.iterdir():
            shutil.move(str(item), str(out / item.name))
    return sorted(out.rglob("*.html"))
