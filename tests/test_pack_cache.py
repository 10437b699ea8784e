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
from rulecite.policy_lang import files as pc_files

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


@pytest.mark.parametrize("change", ["policy", "schema", "toml", "test facts", "moved"])
def test_any_change_to_what_the_pack_reads_is_never_served_stale(cache, library_copy, tmp_path, change):
    before = pc.cache_key(library_copy)
    assert pc.cache_key(library_copy) == before  # stable
    assert pc.load_cached(library_copy)[1] == "stored"
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
        f = library_copy / "tests" / "facts" / "two-months.jsonl"  # named by `facts file` in a pack test
        f.write_bytes(f.read_bytes() + b" ")
    else:
        target = tmp_path / "elsewhere"
        shutil.move(library_copy, target)
    if change == "test facts":
        # A test facts file is found by parsing; it is not in the key but in the entry's
        # manifest, which a hit checks: the old entry is refused and replaced.
        assert pc.cache_key(target) == before
    else:
        assert pc.cache_key(target) != before
    loaded, how = pc.load_cached(target)
    assert how == "stored" and loaded.pack == load(target).pack
    assert pc.load_cached(target)[1] == "hit"


def test_files_the_pack_never_reads_are_not_read_for_the_key(cache, library_copy):
    before = pc.cache_key(library_copy)
    (library_copy / "notes.txt").write_text("x")
    os.mkfifo(library_copy / "a-fifo") if hasattr(os, "mkfifo") else None
    (library_copy / "big.bin").write_bytes(b"\0" * (pc_files.MAX_FILE_BYTES + 1))
    assert pc.cache_key(library_copy) == before  # nothing hangs, nothing big is read
    assert pc.load_cached(library_copy)[1] == "stored"


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


# ---------------------------------------------------------------- forged, stale and raced entries
# Whoever can write the cache folder (a CI cache restored from another branch) must not be
# able to change what a pack means: an entry counts only with the HMAC of the user's key,
# which is kept outside the cache folder, over the key it is stored under.

def _edited(library_copy: Path, text: str) -> None:
    f = next(p for p in sorted(library_copy.glob("*.policy")) if "the limit is 12" in p.read_text())
    f.write_text(f.read_text().replace("the limit is 12", text))


def test_a_genuine_entry_of_another_pack_under_this_key_is_a_miss(cache, library_copy, tmp_path):
    """The attack the old cache let through: a real entry (here: the same pack with a rule
    changed) copied over this pack's entry was served under the genuine lock."""
    genuine = load(library_copy).pack
    pc.load_cached(library_copy)
    (entry,) = _entries(cache)
    other = tmp_path / "other"
    shutil.copytree(library_copy, other)
    _edited(other, "the limit is a forged twelve")
    pc.load_cached(other)
    forged = next(e for e in _entries(cache) if e != entry)
    entry.write_bytes(forged.read_bytes())
    entry.chmod(0o600)
    loaded, how = pc.load_cached(library_copy)
    assert how == "stored" and loaded.pack == genuine
    assert not any("forged" in x for x in _outputs(load_pack(library_copy)))


def test_entries_made_with_another_key_are_misses(cache, library_copy, tmp_path, monkeypatch):
    """A cache folder copied from another machine or branch: its entries are genuine
    there, but were made with another key."""
    pc.load_cached(library_copy)
    monkeypatch.setenv("RULECITE_CACHE_KEY_FILE", str(tmp_path / "other-config" / "cache-key"))
    assert pc.load_cached(library_copy)[1] == "stored"
    assert pc.load_cached(library_copy)[1] == "hit"


def test_a_forged_entry_is_never_unpickled(cache, library_copy, tmp_path, monkeypatch):
    """A model object with a hostile operator, written in the entry format with a made-up
    MAC: refused before the unpickler sees a byte."""
    marker = tmp_path / "MARKER"
    pc.load_cached(library_copy)
    (entry,) = _entries(cache)
    key = entry.name[len("pack-"):-len(".pickle")]
    loaded = load(library_copy)
    payload = pickle.dumps(loaded)
    data = entry.read_bytes()
    forged = data[:len(pc.MAGIC)] + b"\0" * 32 + data[len(pc.MAGIC) + 32:]
    entry.write_bytes(forged)

    class Refuse(pc._Unpickler):
        def __init__(self, *a, **k):
            raise AssertionError("a forged entry reached the unpickler")

    monkeypatch.setattr(pc, "_Unpickler", Refuse)
    assert pc._read(entry, key, pc._secret(), pc.PackFiles()) is None
    bad_secret = b"x" * 32
    entry.write_bytes(pc.MAGIC + pc._mac(bad_secret, key, b"", payload) + (0).to_bytes(8, "big") + payload)
    assert pc._read(entry, key, pc._secret(), pc.PackFiles()) is None
    assert not marker.exists()


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes")
def test_a_key_file_others_can_read_turns_the_cache_off(cache, library_copy, tmp_path, monkeypatch):
    keyf = tmp_path / "cfg" / "cache-key"
    monkeypatch.setenv("RULECITE_CACHE_KEY_FILE", str(keyf))
    assert pc.load_cached(library_copy)[1] == "stored"
    assert (keyf.stat().st_mode & 0o777) == 0o600 and (keyf.parent.stat().st_mode & 0o777) == 0o700
    keyf.chmod(0o644)
    assert pc.load_cached(library_copy)[1] == "off"


def test_an_edit_while_loading_is_never_stored_under_the_old_key(cache, library_copy, monkeypatch):
    """The bytes hashed for the key are the bytes parsed: an edit between the two (here,
    made just before parsing starts) cannot be stored under the key of the old text and
    served after the edit is reverted."""
    genuine = load(library_copy).pack
    f = next(p for p in sorted(library_copy.glob("*.policy")) if "the limit is 12" in p.read_text())
    original = f.read_text()
    real_load = pc.load

    def racing_load(*a, **k):
        f.write_text(original.replace("the limit is 12", "the limit is raced"))
        return real_load(*a, **k)

    monkeypatch.setattr(pc, "load", racing_load)
    loaded, how = pc.load_cached(library_copy)
    assert how == "stored" and loaded.pack == genuine  # what was hashed, not what is on disk now
    monkeypatch.setattr(pc, "load", real_load)
    f.write_text(original)  # reverted
    loaded, how = pc.load_cached(library_copy)
    assert how == "hit" and loaded.pack == genuine
    assert not any("raced" in x for x in _outputs(load_pack(library_copy)))


# ---------------------------------------------------------------- a bounded cache

def test_the_cache_keeps_at_most_max_entries_least_recently_used_first(cache, library_copy, monkeypatch):
    monkeypatch.setattr(pc, "MAX_ENTRIES", 3)
    f = sorted(library_copy.glob("*.policy"))[0]
    original = f.read_text()
    t = int(__import__("time").time()) - 1000  # in the past, well within MAX_AGE_DAYS
    for i in range(6):
        f.write_text(original + f"\n# version {i}\n")
        assert pc.load_cached(library_copy)[1] == "stored"
        for e in _entries(cache):  # mtimes a second apart, oldest first, whatever the clock
            if e.stat().st_mtime > t + 10 * i:
                os.utime(e, (t + 10 * i, t + 10 * i))
    assert len(_entries(cache)) == 3
    f.write_text(original + "\n# version 5\n")
    assert pc.load_cached(library_copy)[1] == "hit"  # the newest survived
    f.write_text(original + "\n# version 0\n")
    assert pc.load_cached(library_copy)[1] == "stored"  # the oldest was evicted


def test_entries_unused_for_long_are_removed(cache, library_copy):
    pc.load_cached(library_copy)
    (entry,) = _entries(cache)
    old = entry.stat().st_mtime - (pc.MAX_AGE_DAYS + 1) * 86400
    os.utime(entry, (old, old))
    (cache / ".tmp-left-by-a-killed-writer.pickle").write_bytes(b"x")
    os.utime(cache / ".tmp-left-by-a-killed-writer.pickle", (old, old))
    removed = pc.prune(cache)
    assert removed == sorted([".tmp-left-by-a-killed-writer.pickle", entry.name])
    assert _entries(cache) == []


def test_the_cache_is_bounded_in_bytes(cache, library_copy, monkeypatch):
    pc.load_cached(library_copy)
    (entry,) = _entries(cache)
    monkeypatch.setattr(pc, "MAX_CACHE_BYTES", entry.stat().st_size - 1)
    assert pc.prune(cache) == [entry.name]


def test_a_run_from_the_cache_imports_neither_lark_nor_jsonschema_until_needed(cache):
    # start-up: the parser (Lark) is for a load from source; jsonschema writes the reason
    # of a rejection, and checks a schema loaded from source
    import subprocess
    import sys

    code = ("import sys, json\n"
            "from rulecite.interpreter import evaluate, load_pack\n"
            f"pack = load_pack({str(LIBRARY)!r})\n"
            "seen = ['lark' in sys.modules, 'jsonschema' in sys.modules]\n"
            f"ok = list(evaluate(pack, {RECORDS!r}))\n"
            "seen += ['jsonschema' in sys.modules]\n"
            "bad = list(evaluate(pack, [{'member_id': 'M', 'month': 'soon'}]))\n"
            "seen += ['jsonschema' in sys.modules, bad[0].kind, ok[0].kind]\n"
            "print(json.dumps(seen))\n")
    env = {**os.environ, "RULECITE_CACHE_DIR": str(cache)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert first.stdout.split("\n")[0] == '[true, true, true, true, "rejection", "result"]'  # from source, stored
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert again.stdout.split("\n")[0] == '[false, false, false, true, "rejection", "result"]'
