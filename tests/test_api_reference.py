"""The Python API is documented: every name the packages export (``__all__`` of
``rulecite.interpreter`` and ``rulecite.policy_lang``) has a docstring and appears on the
API reference page, which the docs hook generates from those docstrings; and what the
``RulePack`` docstring says about threads holds."""

from __future__ import annotations

import importlib.util
import inspect
import json
import threading

import pytest

import rulecite.interpreter as interpreter
import rulecite.policy_lang as policy_lang
from rulecite.interpreter import evaluate, load_pack

from tests.cli_support import LIBRARY, ROOT, library_records

PACKAGES = (interpreter, policy_lang)


def _hooks():
    spec = importlib.util.spec_from_file_location("rulecite_docs_hooks", ROOT / "docs" / "hooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _public():
    for pkg in PACKAGES:
        for name in pkg.__all__:
            yield pkg, name, getattr(pkg, name)


@pytest.mark.parametrize("pkg,name,obj", list(_public()), ids=lambda x: getattr(x, "__name__", str(x))[:40])
def test_every_exported_name_has_a_docstring(pkg, name, obj):
    hooks = _hooks()
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert (obj.__doc__ or "").strip(), f"{pkg.__name__}.{name} has no docstring"
    else:
        assert hooks.data_description(pkg, name), f"{pkg.__name__}.{name} (data) is not described in the " \
                                                  "package docstring (a line ``NAME``: what it is)"


def test_the_generated_page_names_every_exported_name():
    page = _hooks().api_reference()
    for pkg, name, obj in _public():
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert f"::: {obj.__module__}.{obj.__qualname__}" in page, name
        else:
            assert f"`{name}`" in page, name
    # each object once: an object two packages export is rendered once and named twice
    directives = [ln for ln in page.splitlines() if ln.startswith("::: ")]
    assert len(directives) == len(set(directives))


def test_the_api_page_has_the_generation_mark():
    text = (ROOT / "docs" / "reference" / "api.md").read_text(encoding="utf-8")
    assert "<!-- rulecite:api-reference -->" in text


def test_one_pack_shared_by_threads_decides_as_one_thread_does():
    pack = load_pack(LIBRARY)
    records = library_records() * 5
    expected = [r.to_json() for r in evaluate(pack, records)]
    got: dict = {}

    def work(k):
        got[k] = [r.to_json() for r in evaluate(pack, records, as_of="2026-06-30" if k % 2 else None)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dated = [r.to_json() for r in evaluate(pack, records, as_of="2026-06-30")]
    for k in range(6):
        assert got[k] == (dated if k % 2 else expected), k
    assert any(json.loads(x).get("pack", {}).get("sha256") == pack.lock for x in expected)
    assert dated != expected  # the clocks decide differently: a mix-up between threads would show


def test_the_built_api_page_shows_every_exported_name(tmp_path):
    """The page as mkdocs builds it (strict): each class and function under its own
    heading (mkdocstrings' anchor is its full path), each value in the data table."""
    import os
    import re
    import shutil
    import subprocess
    import sys

    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("generated", "__pycache__"))
    env = dict(os.environ, RULECITE_DOCS_PACKS=str(LIBRARY), NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(tmp_path / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "site" / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    for pkg, name, obj in _public():
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert f'id="{obj.__module__}.{obj.__qualname__}"' in html, name
        else:
            assert re.search(rf"<td><code>{name}</code></td>\s*<td>[^<(]", html), name
    assert "Thread safety" in html
