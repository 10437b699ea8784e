"""A cache of checked packs, so that loading a pack already seen costs milliseconds.

Takes a pack folder (or bundled name); gives the same ``LoadedPack`` that
``packs.load`` gives, from a cache file when one matches, else by loading (and then
storing the result). Only a pack that loaded without errors is stored.

Data flow of one ``load_cached``: the files of the pack and of each pack it extends
(``pack.toml``, ``facts.schema.json``, every ``.policy`` file) are read once, through
one ``files.PackFiles`` (regular files inside the pack folder, capped); the key is
hashed from exactly those bytes; on a miss ``packs.load`` parses those same bytes
(an edit made meanwhile can never be stored under the key of the older text). The
entry keeps a manifest (path and sha256) of every file the load read, test facts
files included; a hit re-reads and compares the files outside the key.

The key: sha256 over those bytes (relative path and content), each folder's resolved
path (diagnostics name files by absolute path), the quantifier bound, the Rulecite,
language and Python versions, and the size and modification time of Rulecite's own
``policy_lang`` modules (so an edited checker never serves a stale model in a
development install).

Where: ``$RULECITE_CACHE_DIR``, else ``$XDG_CACHE_HOME/rulecite``, else
``~/.cache/rulecite``; ``RULECITE_NO_CACHE=1`` turns the cache off.

Safety. Whoever can write the cache folder must not be able to change what a pack
means (think of a CI cache restored from another branch):

1. Every entry is authenticated: an HMAC-SHA256 over the format, the key, the manifest
   and the pickled model, with a per-user secret key that is *not* in the cache folder
   (``$RULECITE_CACHE_KEY_FILE``, else ``$XDG_CONFIG_HOME/rulecite/cache-key``, else
   ``~/.config/rulecite/cache-key``; 32 random bytes, created 0600 in a 0700 folder). A
   restored or forged folder brings no key, so its entries fail the check and are
   misses; the HMAC is checked before a byte is unpickled.
2. The folder is created private (0700); a folder, entry or key file that another user
   owns, or that others may write, is never used (POSIX).
3. Reading uses an unpickler that resolves only Rulecite's model classes and a short list
   of plain data types, so even an entry that passed the HMAC cannot call a function
   such as ``os.system``; and the compiler emits only whitelisted tokens whatever the
   model says (``rulecite.interpreter.codegen.compiler``).
4. An entry that fails to read, to authenticate, to unpickle, or to match its manifest is
   a miss: the pack is loaded from source. Writes are atomic (a temporary file, then
   rename).

Size: the cache is bounded. After each store, entries unused for ``MAX_AGE_DAYS`` days
are removed, then the least recently used ones until at most ``MAX_ENTRIES`` entries and
``MAX_CACHE_BYTES`` bytes remain (a hit marks its entry used). Eviction never changes a
result, only how long the next load takes.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import pickle
import secrets
import stat
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from rulecite.policy_lang.check import DEFAULT_MAX_DEPTH
from rulecite.policy_lang.files import PackFiles
from rulecite.policy_lang.load import LANGUAGE_VERSION, LoadedPack, load, resolve_extends, resolve_pack_path

CACHE_FORMAT = "2"
MAGIC = b"rulecite-pack-cache\0" + CACHE_FORMAT.encode() + b"\0"
MAX_ENTRY_BYTES = 256 * 1024 * 1024  # a larger entry file is not even read
MAX_ENTRIES = 64  # entries kept after a store (least recently used go first)
MAX_CACHE_BYTES = 512 * 1024 * 1024  # bytes kept after a store
MAX_AGE_DAYS = 30  # an entry unused this long is removed at the next store

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


def key_file() -> Path:
    """Where the per-user secret that authenticates cache entries is kept: outside the
    cache folder, so that a cache folder copied from elsewhere brings no valid key."""
    explicit = os.environ.get("RULECITE_CACHE_KEY_FILE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "rulecite" / "cache-key"


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


def _secret() -> bytes | None:
    """The HMAC key, created on first use; None when it cannot be had safely (then
    nothing is cached)."""
    path = key_file()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(path.parent, is_dir=True):
            return None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            getuid = getattr(os, "getuid", None)
            if not stat.S_ISREG(st.st_mode) or (getuid is not None and (st.st_uid != getuid() or st.st_mode & 0o077)):
                return None  # someone else's key, or one others can read: never trusted
            key = f.read(65)
    except OSError:
        return None
    return key if 32 <= len(key) <= 64 else None


def _code_stamp() -> bytes:
    """Size and modification time of this package's modules: a changed checker is a new key."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for f in sorted(here.rglob("*.py")) + sorted(here.rglob("*.lark")):
        st = f.stat()
        h.update(f"{f.relative_to(here).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.digest()


def _chain(root: Path, files: PackFiles) -> list | None:
    """The pack folder and every folder it extends, or None when that cannot be told
    without a full load (then nothing is cached). Reads each pack.toml through ``files``."""
    out: list = []
    while root is not None:
        root = root.resolve()
        if root in out:
            return None  # a circle: load reports it
        out.append(root)
        try:
            data = tomllib.loads(files.read(root / "pack.toml", root).decode("utf-8-sig"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None
        pk = data.get("pack", {})
        extends = pk.get("extends") if isinstance(pk, dict) else None
        if extends is None:
            break
        if not isinstance(extends, str):
            return None
        root = resolve_extends(extends, root)
        if root is None:
            return None
    return out


def _key(path_or_name, max_depth: int, files: PackFiles) -> str | None:
    """Read the pack's files through ``files`` and hash them: the entry's key."""
    from rulecite import __version__

    root = resolve_pack_path(path_or_name)
    if root is None:
        return None
    chain = _chain(root, files)
    if chain is None:
        return None
    h = hashlib.sha256()
    h.update(f"rulecite-pack-cache-{CACHE_FORMAT}\0{__version__}\0{LANGUAGE_VERSION}\0".encode())
    h.update(f"{sys.version_info[:2]}\0{max_depth}\0".encode())
    h.update(_code_stamp())
    try:
        for folder in chain:
            h.update(b"\1" + str(folder).encode("utf-8", "surrogateescape") + b"\0")
            paths = [folder / "pack.toml"] + files.policy_files(folder)
            schema = folder / "facts.schema.json"
            if schema.exists() or schema.is_symlink():
                paths.append(schema)
            for p in paths:
                data = files.read(p, folder)
                rel = p.relative_to(folder).as_posix()
                h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + hashlib.sha256(data).digest())
    except (OSError, ValueError):
        return None  # load reports why
    return h.hexdigest()


def cache_key(path_or_name, max_depth: int = DEFAULT_MAX_DEPTH) -> str | None:
    """The key of a pack's cache entry, or None when it cannot be computed."""
    return _key(path_or_name, max_depth, PackFiles())


def _mac(secret: bytes, key: str, manifest: bytes, payload: bytes) -> bytes:
    m = hmac.new(secret, digestmod=hashlib.sha256)
    for part in (MAGIC, key.encode(), manifest, payload):
        m.update(len(part).to_bytes(8, "big"))
        m.update(part)
    return m.digest()


def _read(path: Path, key: str, secret: bytes, files: PackFiles) -> LoadedPack | None:
    """The entry at ``path`` when it is genuine (its HMAC), for this key, and every file it
    was made from still has the same bytes; else None."""
    if not _private(path, is_dir=False):
        return None
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_ENTRY_BYTES:
                return None
            data = f.read(MAX_ENTRY_BYTES + 1)
    except OSError:
        return None
    head = len(MAGIC)
    if not data.startswith(MAGIC) or len(data) < head + 32 + 16:
        return None
    mac = data[head:head + 32]
    mlen = int.from_bytes(data[head + 32:head + 40], "big")
    manifest = data[head + 40:head + 40 + mlen]
    payload = data[head + 40 + mlen:]
    if not hmac.compare_digest(mac, _mac(secret, key, manifest, payload)):
        return None  # forged, damaged, made with another key, or stored under another key
    try:
        for line in manifest.decode("utf-8", "surrogateescape").split("\n"):
            if not line:
                continue
            digest, _, name = line.partition(" ")
            p = Path(name)
            if p not in files:  # the files outside the key (test facts): still the same bytes?
                if hashlib.sha256(files.read(p, p.parent)).hexdigest() != digest:
                    return None
        value = _Unpickler(io.BytesIO(payload)).load()
    except Exception:  # any damage at all: load from source instead
        return None
    if not (isinstance(value, LoadedPack) and value.ok):
        return None
    return value


def _manifest(files: PackFiles) -> bytes:
    return "".join(f"{digest} {name}\n" for name, digest in files.digests()).encode("utf-8", "surrogateescape")


def _write(folder: Path, path: Path, key: str, secret: bytes, loaded: LoadedPack, files: PackFiles) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(folder, is_dir=True):
            return
        payload = pickle.dumps(loaded, protocol=pickle.HIGHEST_PROTOCOL)
        manifest = _manifest(files)
        data = b"".join((MAGIC, _mac(secret, key, manifest, payload), len(manifest).to_bytes(8, "big"),
                         manifest, payload))
        if len(data) > MAX_ENTRY_BYTES:
            return
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
        prune(folder)
    except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return  # a cache that cannot be written is no cache, never an error


def prune(folder: Path, now: float | None = None) -> list:
    """Remove entries unused for ``MAX_AGE_DAYS``, then the least recently used ones past
    ``MAX_ENTRIES`` or ``MAX_CACHE_BYTES``, and temporary files left by a killed writer.
    Returns the names removed. ``now`` is for tests; the default is the current time
    (eviction changes how fast the next load is, never what it gives)."""
    now = time.time() if now is None else now
    entries = []
    removed = []
    try:
        listing = list(os.scandir(folder))
    except OSError:
        return removed
    for e in listing:
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if e.name.startswith(".tmp-") and now - st.st_mtime > 3600:
            removed.append(e.name)
        elif e.name.startswith("pack-") and e.name.endswith(".pickle"):
            if now - st.st_mtime > MAX_AGE_DAYS * 86400:
                removed.append(e.name)
            else:
                entries.append((st.st_mtime, e.name, st.st_size))
    entries.sort(reverse=True)  # most recently used first
    total = 0
    for i, (_, name, size) in enumerate(entries):
        total += size
        if i >= MAX_ENTRIES or total > MAX_CACHE_BYTES:
            removed.append(name)
    for name in removed:
        try:
            os.unlink(folder / name)
        except OSError:
            pass
    return sorted(removed)


def load_cached(path_or_name, max_depth: int = DEFAULT_MAX_DEPTH) -> tuple[LoadedPack, str]:
    """``packs.load`` through the cache. Returns the loaded pack and how it was got:
    ``"hit"``, ``"stored"`` (loaded and written), or ``"off"`` (loaded, not cached:
    the cache is off, the pack has errors, its files could not be hashed, or no private
    key could be had)."""
    folder = cache_dir()
    files = PackFiles()
    secret = _secret() if folder is not None else None
    key = _key(path_or_name, max_depth, files) if secret is not None else None
    if key is None:
        return load(path_or_name, max_depth, files=files), "off"
    path = folder / f"pack-{key}.pickle"
    if _private(folder, is_dir=True):
        hit = _read(path, key, secret, files)
        if hit is not None:
            try:
                os.utime(path)  # used: the last to be evicted
            except OSError:
                pass
            return hit, "hit"
    loaded = load(path_or_name, max_depth, files=files)
    if not loaded.ok:
        return loaded, "off"
    _write(folder, path, key, secret, loaded, files)
    return loaded, "stored"
