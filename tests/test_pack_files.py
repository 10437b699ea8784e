"""Pack folders an attacker prepared: a pack reads only regular files that resolve inside
its own folder, checks each one's size before reading it, never blocks on a FIFO or a
device, extends nothing by absolute path, and a folder in the working directory cannot
stand in for a bundled pack by its name.

Symlinks and special files cannot live in git, so each hostile folder is made here from a
copy of the library pack. Each test names the class it covers; each failed on the loader
that followed symlinks and read every file whole.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from rulecite.interpreter import load_pack
from rulecite.policy_lang import load, render_text, resolve_pack_path
from rulecite.policy_lang import cache as pc
from rulecite.policy_lang import files as pf
from rulecite.policy_lang.load import bundled_root, shadowed_folder

from .cli_support import run
from .conftest import LIBRARY

POSIX = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX symlinks and FIFOs")
SECRET = "root:x:0:0:a line that must never be shown:/root:/bin/bash"


def _within(seconds: float, fn, *args):
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it takes longer."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn(*args)), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn.__name__} blocked for more than {seconds} s"
    return out[0]


def _errors(loaded) -> list:
    return [(d.code, Path(d.span.file).name, d.message) for d in loaded.diagnostics if d.severity == "error"]


@pytest.fixture
def secret(tmp_path) -> Path:
    f = tmp_path / "outside" / "passwd"
    f.parent.mkdir()
    f.write_text(SECRET + "\n")
    return f


# ---------------------------------------------------------------- symlinks out of the pack

@POSIX
@pytest.mark.parametrize("name", ["evil.policy", "sub/evil.policy", "facts.schema.json", "pack.toml"])
def test_a_symlink_out_of_the_pack_is_never_read(library_copy, secret, name):
    target = library_copy / name
    target.parent.mkdir(exist_ok=True)
    if target.exists():
        target.unlink()
    target.symlink_to(secret)
    loaded = _within(10, load, library_copy)
    assert not loaded.ok
    errs = _errors(loaded)
    assert any(code in ("E505", "E501") and "outside the pack folder" in msg for code, _, msg in errs), errs
    shown = render_text(loaded.diagnostics, loaded.texts)
    assert SECRET not in shown and "never be shown" not in shown
    assert all(SECRET not in t for t in loaded.texts.values())


@POSIX
def test_a_symlink_inside_the_pack_is_followed(library_copy):
    rules = library_copy / "rules.policy"
    (library_copy / "real").mkdir()
    shutil.move(rules, library_copy / "real" / "rules.txt")
    rules.symlink_to(Path("real") / "rules.txt")
    assert load(library_copy).ok


@POSIX
def test_a_test_facts_file_behind_a_symlink_or_fifo_is_refused(library_copy, secret):
    facts = library_copy / "tests" / "facts" / "two-months.jsonl"
    facts.unlink()
    facts.symlink_to(secret)
    errs = _errors(_within(10, load, library_copy))
    assert any(code == "E603" for code, _, _ in errs), errs
    facts.unlink()
    os.mkfifo(facts)
    errs = _errors(_within(10, load, library_copy))
    assert any(code == "E603" and "not a regular file" in msg for code, _, msg in errs), errs


# ---------------------------------------------------------------- special files

@POSIX
@pytest.mark.parametrize("name", ["fifo.policy", "facts.schema.json"])
def test_a_fifo_never_blocks_check(library_copy, name):
    f = library_copy / name
    if f.exists():
        f.unlink()
    os.mkfifo(f)
    loaded = _within(10, load, library_copy)
    errs = _errors(loaded)
    assert any("not a regular file" in msg for _, _, msg in errs), errs


@POSIX
@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_behind_a_symlink_is_refused_before_reading(library_copy):
    (library_copy / "zero.policy").symlink_to("/dev/zero")
    loaded = _within(10, load, library_copy)
    assert any("outside the pack folder" in msg for _, _, msg in _errors(loaded))


def test_a_file_larger_than_the_limit_is_refused_without_reading_it(library_copy, monkeypatch):
    big = library_copy / "big.policy"
    with open(big, "wb") as f:  # sparse: the size is there, the bytes never need to be
        f.truncate(pf.MAX_FILE_BYTES + 1)
    reads: list = []
    real_read = os.read
    monkeypatch.setattr(pf.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    loaded = _within(30, load, library_copy)
    errs = _errors(loaded)
    assert any(code == "E505" and "at most" in msg and f"{pf.MAX_FILE_BYTES:,}" in msg for code, _, msg in errs), errs
    assert sum(reads) < pf.MAX_FILE_BYTES  # the big file itself was never read


def test_the_pack_as_a_whole_is_capped(library_copy, monkeypatch):
    monkeypatch.setattr(pf, "MAX_PACK_BYTES", 2_000)
    errs = _errors(load(library_copy))
    assert any("in all" in msg for _, _, msg in errs), errs


def test_too_many_policy_files_is_an_error_not_a_slow_load(library_copy, monkeypatch):
    monkeypatch.setattr(pf, "MAX_FILES", 3)
    for i in range(5):
        (library_copy / f"extra{i}.policy").write_text("")
    errs = _errors(load(library_copy))
    assert any("more than 3 .policy files" in msg for _, _, msg in errs), errs


@POSIX
def test_the_cache_key_reads_only_what_the_pack_reads(library_copy):
    """A FIFO, a device link or a big file lying in the folder hangs nothing and is not
    hashed; a hostile .policy link makes the key None (the load then reports it)."""
    os.mkfifo(library_copy / "notes.fifo")
    (library_copy / "video.bin").write_bytes(b"\0" * 1_000_000)
    assert _within(10, pc.cache_key, library_copy) is not None
    os.mkfifo(library_copy / "x.policy")
    assert _within(10, pc.cache_key, library_copy) is None
    loaded, how = _within(10, pc.load_cached, library_copy)
    assert how == "off" and not loaded.ok


# ---------------------------------------------------------------- extends and names

def test_extends_by_absolute_path_is_refused(library_copy, tmp_path):
    other = tmp_path / "base"
    shutil.copytree(LIBRARY, other)
    toml = library_copy / "pack.toml"
    toml.write_text(toml.read_text().replace('[pack]\n', f'[pack]\nextends = "{other.as_posix()}"\n', 1))
    loaded = load(library_copy)
    errs = _errors(loaded)
    assert any(code == "E502" and "absolute path" in msg for code, _, msg in errs), errs
    d = next(d for d in loaded.diagnostics if d.code == "E502")
    assert d.span.line == 4 and d.hints  # the caret is under the `extends` line


def test_extends_bundled_by_explicit_name(tmp_path):
    child = tmp_path / "overlay"
    shutil.copytree(bundled_root() / "example-practice-overlay", child)
    toml = child / "pack.toml"
    toml.write_text(toml.read_text().replace('extends = "cms-care-management"',
                                             'extends = "bundled:cms-care-management"'))
    assert load(child).ok


@pytest.fixture
def impostor(tmp_path, monkeypatch) -> Path:
    """A folder named like the bundled CMS pack in the working directory, holding another pack."""
    folder = tmp_path / "cms-care-management"
    shutil.copytree(LIBRARY, folder)
    monkeypatch.chdir(tmp_path)
    return folder


def test_a_local_folder_never_shadows_a_bundled_pack(impostor):
    bundled = (bundled_root() / "cms-care-management").resolve()
    assert resolve_pack_path("cms-care-management").resolve() == bundled
    assert resolve_pack_path("bundled:cms-care-management").resolve() == bundled
    assert resolve_pack_path("./cms-care-management").resolve() == impostor.resolve()
    assert shadowed_folder("cms-care-management") is not None
    assert shadowed_folder("bundled:cms-care-management") is None
    assert load_pack("cms-care-management").model.name == "cms-care-management"
    assert load_pack("./cms-care-management").model.name == "library-loans"
    assert resolve_pack_path("bundled:library-loans") is None  # not bundled: no fallback to a folder


def test_the_cli_notes_the_folder_it_did_not_use(impostor):
    result = run(["check", "cms-care-management"])
    assert result.exit_code == 0, result.output
    assert "note: `cms-care-management` is the bundled pack" in result.stderr
    assert "./cms-care-management" in result.stderr
    quiet = run(["check", "bundled:cms-care-management"])
    assert quiet.exit_code == 0 and "note:" not in quiet.stderr
