"""The checked-pack cache: a hit gives the very pack a full load gives; any change to the
pack's files, a damaged or crafted cache file, or a cache folder others can write to
falls back to loading from source; and reading a cache file can never run code."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest

from rulecite.interpreter import evaluate, load_pack
from rulecite.policy_lang import load
from rulecite.policy_lang import cache as pc

from .conftest import BRANCH, LIBRARY

RECORDS = [
    {"member_id": "M1", "month": "2026-03", "member": {"age": 40},
     "loans": [{"line": 1, "item": "BOOK", "units": 20, "date": "2026-03-02"}]},
    {"member_id": "M2", "month": "2025-05", "member": {"age": 9}, "loans": [{"line": 1, "item": "BOOK", "units": 1}]},
]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("RULECITE_CACHE_DIR", str(folder))
    monkeypatch.delenv("RULECITE_NO_CACHE", raising=False)
    return folder


def _entries(folder: Path) -> list:
    return sorted(folder.glob("pack-*.pickle")) if folder.exists() else []


def _outputs(pack) -> list:
    return [r.to_json() for r in evaluate(pack, RECORDS)]


def test_a_hit_is_the_same_pack_as_a_full_load(cache, library_copy):
    fresh = load(library_copy)
    first, how1 = pc.load_cached(library_copy)
    second, how2 = pc.load_cached(library_copy)
    assert (how1, how2) == ("stored", "hit")
    assert len(_entries(cache)) == 1
    assert second.pack == fresh.pack and second.pack.lock == fresh.pack.lock
    assert second.diagnostics == fresh.diagnostics and second.texts == fresh.texts
    assert _outputs(load_pack(library_copy)) == _outputs(load_pack(library_copy, cache=False))


def test_the_folder_and_files_are_private(cache, library_copy):
    pc.load_cached(library_copy)
    assert (cache.stat().st_mode & 0o777) == 0o700
    (entry,) = _entries(cache)
    assert (entry.stat().st_mode & 0o077) == 0


@pytest.mark.parametrize("change", ["policy", "schema", "toml", "test facts", "new file", "moved"])
def test_any_change_to_the_pack_is_a_new_key(cache, library_copy, tmp_path, change):
    before = pc.cache_key(library_copy)
    assert pc.cache_key(library_copy) == before  # stable
    target = library_copy
    if change == "policy":
        f = sorted(library_copy.glob("*.policy"))[0]
        f.write_text(f.read_text() + "\n# a comment\n")
    elif change == "schema":
        f = library_copy / "facts.schema.json"
        f.write_text(f.read_text() + " ")
    elif change == "toml":
        f = library_copy / "pack.toml"
        f.write_text(f.read_text() + "\n")
    elif change == "test facts":
        f = sorted(library_copy.rglob("*.json"))[-1]
        f.write_bytes(f.read_bytes() + b" ")
    elif change == "new file":
        (library_copy / "notes.txt").write_text("x")
    else:
        target = tmp_path / "elsewhere"
        shutil.move(library_copy, target)
    assert pc.cache_key(target) != before


def test_an_extended_pack_is_part_of_the_key(cache, tmp_path):
    packs = tmp_path / "packs"
    shutil.copytree(LIBRARY, packs / "library")
    shutil.copytree(BRANCH, packs / "library-branch")
    child = packs / "library-branch"
    before = pc.cache_key(child)
    assert before is not None
    loaded, how = pc.load_cached(child)
    assert loaded.ok and how == "stored"
    f = sorted((packs / "library").glob("*.policy"))[0]
    f.write_text(f.read_text() + "\n# parent changed\n")
    assert pc.cache_key(child) != before
    assert pc.load_cached(child)[1] == "stored"


def test_an_edited_rule_is_never_served_stale(cache, library_copy):
    old = _outputs(load_pack(library_copy))
    f = next(p for p in sorted(library_copy.glob("*.policy")) if "the limit is 12" in p.read_text())
    f.write_text(f.read_text().replace("the limit is 12", "the limit is twelve"))
    new = _outputs(load_pack(library_copy))
    assert new != old and any("the limit is twelve" in x for x in new)
    assert new == _outputs(load_pack(library_copy, cache=False))


def test_a_pack_with_errors_is_not_cached(cache, library_copy):
    (library_copy / "broken.policy").write_text("rule r {\n")
    loaded, how = pc.load_cached(library_copy)
    assert not loaded.ok and how == "off"
    assert _entries(cache) == []


def test_the_cache_can_be_turned_off(cache, library_copy, monkeypatch):
    monkeypatch.setenv("RULECITE_NO_CACHE", "1")
    assert pc.load_cached(library_copy)[1] == "off"
    load_pack(library_copy)
    assert not cache.exists()
    monkeypatch.delenv("RULECITE_NO_CACHE")
    load_pack(library_copy, cache=False)
    assert not cache.exists()


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated", "other object", "other format"])
def test_a_damaged_entry_is_ignored_and_replaced(cache, library_copy, damage):
    pc.load_cached(library_copy)
    (entry,) = _entries(cache)
    data = entry.read_bytes()
    entry.write_bytes({"empty": b"", "garbage": b"\x80\x05not a pickle", "truncated": data[: len(data) // 2],
                       "other object": pickle.dumps(("1", {"not": "a pack"})),
                       "other format": pickle.dumps(("0", load(library_copy)))}[damage])
    loaded, how = pc.load_cached(library_copy)
    assert how == "stored" and loaded.ok
    assert loaded.pack == load(library_copy).pack
    assert pc.load_cached(library_copy)[1] == "hit"


class _Evil:
    """Unpickling this calls os.system: what a crafted cache file would try."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["os.system", "builtins.eval", "rulecite function", "imported class"])
def test_a_crafted_entry_runs_no_code(cache, library_copy, tmp_path, how):
    marker = tmp_path / "MARKER"
    pc.load_cached(library_copy)
    (entry,) = _entries(cache)
    if how == "os.system":
        payload = pickle.dumps((pc.CACHE_FORMAT, _Evil(marker)))
    elif how == "builtins.eval":
        payload = (b"\x80\x04cbuiltins\neval\n(V__import__('os').system('touch " + str(marker).encode() +
                   b"')\ntR.")
    elif how == "rulecite function":  # a function of Rulecite's own (not a class) is refused too
        payload = pickle.dumps((pc.CACHE_FORMAT, pc.cache_dir))
    else:  # a class a Rulecite module imported, named through that module: refused
        payload = (b"\x80\x04crulecite.policy_lang.cache\nPath\n(V" + str(marker).encode() + b"\ntR.")
    entry.write_bytes(payload)
    entry.chmod(0o600)
    with pytest.raises(pickle.UnpicklingError):
        pc._Unpickler(__import__("io").BytesIO(payload)).load()
    loaded, got = pc.load_cached(library_copy)
    assert got == "stored" and loaded.ok
    assert not marker.exists()


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes")
@pytest.mark.parametrize("what", ["folder", "file"])
def test_an_entry_others_may_write_is_never_read(cache, library_copy, what):
    pc.load_cached(library_copy)
    (entry,) = _entries(cache)
    (cache if what == "folder" else entry).chmod(0o777 if what == "folder" else 0o666)
    loaded, how = pc.load_cached(library_copy)
    assert loaded.ok and how != "hit"


def test_a_hostile_pack_round_trips_through_the_cache_harmlessly(cache, tmp_path):
    """Strings crafted to break out of Python stay strings in the cache too."""
    src = Path(__file__).parent / "hostile" / "packs" / "hostile-strings"
    marker = tmp_path / "MARKER"
    shutil.copytree(LIBRARY, tmp_path / "packs" / "library")
    dst = tmp_path / "hostile" / "packs" / "hostile-strings"
    shutil.copytree(src, dst)
    for f in dst.rglob("*"):
        if f.is_file() and b"@MARKER@" in f.read_bytes():
            f.write_bytes(f.read_bytes().replace(b"@MARKER@", str(marker).encode()))
    import json

    records = json.loads((src / "expect.json").read_text(encoding="utf-8"))["records"]
    fresh = [r.to_json() for r in evaluate(load_pack(dst, cache=False), records)]
    assert pc.load_cached(dst)[1] == "stored"
    assert pc.load_cached(dst)[1] == "hit"
    assert [r.to_json() for r in evaluate(load_pack(dst), records)] == fresh
    assert not marker.exists()
