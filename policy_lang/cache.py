"""A cache of checked packs, so that loading a pack already seen costs milliseconds.

Takes a pack folder (or bundled name); gives the same ``LoadedPack`` that
``packs.load`` gives, from a cache file when one matches, else by loading (and then
storing the result). Only a pack that loaded without errors is stored.

The key: sha256 over every file in the pack folder and in each pack it extends
(relative path and bytes; ``.policy`` files, ``pack.toml``, the facts schema, test
facts files: everything ``load`` may read), each folder's resolved path (diagnostics
name files by absolute path), the quantifier bound, the Rulecite version, the
language version, the Python version, and the size and modification time of
Rulecite's own ``policy_lang`` modules (so an edited checker never serves a stale
model in a development install). A pack's lock is a hash of its normalized content,
so a key that matches implies the same inputs, the same code, and so the same lock.

Where: ``$RULECITE_CACHE_DIR``, else ``$XDG_CACHE_HOME/rulecite``, else
``~/.cache/rulecite``; ``RULECITE_NO_CACHE=1`` turns the cache off.

Safety: the cache holds pickles of Rulecite's own objects. A pack's text can only
ever become strings and numbers inside them; nothing a pack says is executed when a
cache file is read. A cache file could be replaced by someone who can write to the
cache folder, so (1) the folder is created private (0700) and a folder or file that
another user owns, or that others may write to, is never read (POSIX); (2) reading
uses an unpickler that resolves only Rulecite's model classes and a short list of
plain data types, so even a crafted file cannot call a function such as
``os.system``; (3) a file that fails to read, to unpickle, or to match is ignored and
the pack is loaded from source. Writes are atomic (a temporary file, then rename).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import stat
import sys
import tempfile
import tomllib
from pathlib import Path

from .checker import DEFAULT_MAX_DEPTH
from .packs import LANGUAGE_VERSION, LoadedPack, _resolve_extends, load, resolve_pack_path

CACHE_FORMAT = "1"
MAX_FILES = 5_000  # a folder with more files than this is not hashed (and not cached)
MAX_BYTES = 64 * 1024 * 1024  # nor one holding more bytes than this

_SAFE_BUILTINS = frozenset({"set", "frozenset", "tuple", "list", "dict", "int", "float", "str", "bytes", "bool",
                            "complex", "slice", "range", "NoneType"})
_SAFE_GLOBALS = {("datetime", "date"), ("datetime", "datetime"), ("datetime", "timedelta"),
                 ("decimal", "Decimal"), ("copyreg", "_reconstructor"), ("copyreg", "__newobj__"),
                 ("collections", "OrderedDict")}
_OWN_MODULES = ("rulecite.policy_lang.",)


class _Unpickler(pickle.Unpickler):
    """Resolves Rulecite's model classes and plain data types, nothing else."""

    def find_class(self, module, name):
        if module == "builtins" and name in _SAFE_BUILTINS:
            return super().find_class(module, name)
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        if module.startswith(_OWN_MODULES) and not name.startswith("_"):
            obj = super().find_class(module, name)
            # Classes defined in that module only: never a function to call, and never a
            # class it merely imported (which could be anything).
            if isinstance(obj, type) and obj.__module__ == module:
                return obj
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a pack cache")


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is off."""
    if os.environ.get("RULECITE_NO_CACHE", "").strip() not in ("", "0"):
        return None
    base = os.environ.get("RULECITE_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "rulecite"


def _private(path: Path, is_dir: bool) -> bool:
    """True when ``path`` is ours and nobody else may write to it (always true where
    the OS has no owners and modes)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if is_dir != stat.S_ISDIR(st.st_mode):
        return False
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # pragma: no cover - Windows
        return True
    return st.st_uid == getuid() and not (st.st_mode & 0o022)


def _code_stamp() -> bytes:
    """Size and modification time of this package's modules: a changed checker is a new key."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for f in sorted(here.glob("*.py")) + sorted(here.glob("*.lark")):
        st = f.stat()
        h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.digest()


def _chain(root: Path) -> list | None:
    """The pack folder and every folder it extends, or None when that cannot be told
    without a full load (then nothing is cached)."""
    out: list = []
    while root is not None:
        root = root.resolve()
        if root in out:
            return None  # a circle: load reports it
        out.append(root)
        try:
            data = tomllib.loads((root / "pack.toml").read_bytes().decode("utf-8-sig"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None
        extends = data.get("pack", {}).get("extends")
        if extends is None:
            break
        if not isinstance(extends, str):
            return None
        root = _resolve_extends(extends, root)
        if root is None:
            return None
    return out


def cache_key(path_or_name, max_depth: int = DEFAULT_MAX_DEPTH) -> str | None:
    """The key of a pack's cache entry, or None when it cannot be computed."""
    from rulecite import __version__

    root = resolve_pack_path(path_or_name)
    if root is None:
        return None
    chain = _chain(root)
    if chain is None:
        return None
    h = hashlib.sha256()
    h.update(f"rulecite-pack-cache-{CACHE_FORMAT}\0{__version__}\0{LANGUAGE_VERSION}\0".encode())
    h.update(f"{sys.version_info[:2]}\0{max_depth}\0".encode())
    h.update(_code_stamp())
    files = total = 0
    for folder in chain:
        h.update(b"\1" + str(folder).encode("utf-8", "surrogateescape") + b"\0")
        try:
            paths = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.as_posix())
        except OSError:
            return None
        for p in paths:
            files += 1
            try:
                data = p.read_bytes()
            except OSError:
                return None
            total += len(data)
            if files > MAX_FILES or total > MAX_BYTES:
                return None
            rel = p.relative_to(folder).as_posix()
            h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def _read(path: Path) -> LoadedPack | None:
    if not _private(path, is_dir=False):
        return None
    try:
        data = path.read_bytes()
        value = _Unpickler(io.BytesIO(data)).load()
    except Exception:  # any damage at all: load from source instead
        return None
    if not (isinstance(value, tuple) and len(value) == 2 and value[0] == CACHE_FORMAT
            and isinstance(value[1], LoadedPack) and value[1].ok):
        return None
    return value[1]


def _write(folder: Path, path: Path, loaded: LoadedPack) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(folder, is_dir=True):
            return
        data = pickle.dumps((CACHE_FORMAT, loaded), protocol=pickle.HIGHEST_PROTOCOL)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return  # a cache that cannot be written is no cache, never an error


def load_cached(path_or_name, max_depth: int = DEFAULT_MAX_DEPTH) -> tuple[LoadedPack, str]:
    """``packs.load`` through the cache. Returns the loaded pack and how it was got:
    ``"hit"``, ``"stored"`` (loaded and written), or ``"off"`` (loaded, not cached:
    the cache is off, the pack has errors, or its files could not be hashed)."""
    folder = cache_dir()
    key = cache_key(path_or_name, max_depth) if folder is not None else None
    if key is None:
        return load(path_or_name, max_depth), "off"
    path = folder / f"pack-{key}.pickle"
    if _private(folder, is_dir=True):
        hit = _read(path)
        if hit is not None:
            return hit, "hit"
    loaded = load(path_or_name, max_depth)
    if not loaded.ok:
        return loaded, "off"
    _write(folder, path, loaded)
    return loaded, "stored"
