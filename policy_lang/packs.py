"""Load a pack folder: pack.toml, facts.schema.json and its .policy files.

Takes a folder (or the name of a bundled pack); gives ``LoadedPack``: the checked
``Pack`` model (or None), every diagnostic, and the texts read (for rendering
carets). Follows ``extends`` (a bundled pack name or a relative path) with cycle
detection. Computes the pack's lock: a sha256 over its normalized content, the same
on every machine whatever the file order or line endings.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import tomllib
from pathlib import Path

import attrs
import jsonschema

from .ast import Span
from .checker import DEFAULT_MAX_DEPTH, PackConfig, check
from .errors import Diagnostic, did_you_mean, sort_diagnostics
from .model import Pack, RecordShape, Window
from .parser import parse

LANGUAGE_VERSION = "1"
VERSION_RE = re.compile(r"^(19|20|21)[0-9]{2}\.[0-9]+\.[0-9]+$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@attrs.frozen
class LoadedPack:
    pack: Pack | None
    diagnostics: tuple
    texts: dict = attrs.field(eq=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.pack is not None and not any(d.severity == "error" for d in self.diagnostics)


def bundled_root() -> Path:
    """The folder holding the packs shipped with Rulecite (``rulecite.packs``)."""
    from importlib import resources

    return Path(str(resources.files("rulecite.packs")))


def bundled_names() -> list:
    root = bundled_root()
    return sorted(p.name for p in root.iterdir() if (p / "pack.toml").is_file())


def resolve_pack_path(path_or_name) -> Path | None:
    try:
        return _resolve_pack_path(path_or_name)
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte, ...
        return None


def _resolve_pack_path(path_or_name) -> Path | None:
    p = Path(path_or_name)
    if (p / "pack.toml").is_file():
        return p
    if p.name == "pack.toml" and p.is_file():
        return p.parent
    if isinstance(path_or_name, str) and NAME_RE.match(path_or_name):
        cand = bundled_root() / path_or_name
        if (cand / "pack.toml").is_file():
            return cand
    return None


def load(path_or_name, max_depth: int = DEFAULT_MAX_DEPTH, _chain: tuple = ()) -> LoadedPack:
    """Parse and check a pack (and the packs it extends)."""
    root = resolve_pack_path(path_or_name)
    if root is None:
        hint = did_you_mean(str(path_or_name), bundled_names())
        return LoadedPack(None, (Diagnostic("E500", f"no pack at `{path_or_name}` (a folder with pack.toml, or a "
                                            f"bundled pack name: {', '.join(bundled_names())})",
                                            Span(str(path_or_name), 0, 0, 0, 0), hint),), {})
    root = root.resolve()
    texts: dict = {}
    diags: list = []
    toml_file = root / "pack.toml"
    cfg, extends = _read_toml(toml_file, root, diags, texts)
    if cfg is None:
        return LoadedPack(None, tuple(sort_diagnostics(diags)), texts)
    parent = None
    if extends:
        ppath = _resolve_extends(extends, root)
        if ppath is None:
            diags.append(Diagnostic("E502", f"`extends = \"{extends}\"`: no such pack",
                                    Span(str(toml_file), 1, 1, 1, 1), did_you_mean(extends, bundled_names())))
        elif ppath.resolve() in _chain + (root,):
            names = " -> ".join(p.name for p in _chain + (root, ppath.resolve()))
            diags.append(Diagnostic("E503", f"packs extend each other in a circle: {names}",
                                    Span(str(toml_file), 1, 1, 1, 1)))
        else:
            loaded = load(ppath, max_depth, _chain + (root,))
            texts.update(loaded.texts)
            if not loaded.ok:
                diags.extend(loaded.diagnostics)
                diags.append(Diagnostic("E502", f"extended pack `{extends}` has errors",
                                        Span(str(toml_file), 1, 1, 1, 1)))
            else:
                parent = loaded.pack
                cfg = _inherit(cfg, parent, toml_file)
    schema = _read_schema(root, parent, diags, texts)
    modules = []
    for f in sorted(root.rglob("*.policy"), key=lambda p: p.relative_to(root).as_posix()):
        rel = f.relative_to(root).as_posix()
        name = str(f)
        try:
            text = f.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            diags.append(Diagnostic("E505", f"cannot read `{rel}` as UTF-8 text ({e.__class__.__name__})",
                                    Span(name, 0, 0, 0, 0)))
            continue
        texts[name] = text
        module, errs = parse(text, name)
        diags.extend(errs)
        if module is not None:
            modules.append(module)
    if schema is None or any(d.severity == "error" for d in diags):
        return LoadedPack(None, tuple(sort_diagnostics(diags)), texts)
    pack, errs = check(modules, cfg, schema, parent, texts, max_depth)
    diags.extend(errs)
    if pack is not None:
        own = tuple((Path(n).relative_to(root).as_posix(), t) for n, t in sorted(texts.items())
                    if Path(n).is_relative_to(root) and n.endswith(".policy"))
        pack = attrs.evolve(pack, files=own, lock=lock_hash(root, own, schema, parent))
    return LoadedPack(pack, tuple(sort_diagnostics(diags)), texts)


def lock_hash(root: Path, files, schema: dict, parent: Pack | None) -> str:
    """sha256 over pack.toml, the schema (canonical JSON), every .policy file (sorted by
    path, newlines normalized) and the parent's lock."""
    h = hashlib.sha256()
    h.update(b"rulecite-pack-lock-v1\0")
    toml_text = (root / "pack.toml").read_text(encoding="utf-8-sig")
    h.update(_norm(toml_text).encode() + b"\0")
    h.update(json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\0")
    for rel, text in sorted(files):
        h.update(rel.encode() + b"\0" + _norm(text).encode() + b"\0")
    h.update((parent.lock if parent else "").encode())
    return h.hexdigest()


def _norm(text: str) -> str:
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _resolve_extends(extends: str, root: Path) -> Path | None:
    rel = (root / extends)
    if (rel / "pack.toml").is_file():
        return rel
    return resolve_pack_path(extends)


def _date(v, key, diags, span) -> _dt.date | None:
    if isinstance(v, _dt.date):
        return v
    try:
        return _dt.date.fromisoformat(str(v))
    except ValueError:
        diags.append(Diagnostic("E500", f"`{key}` must be a date (YYYY-MM-DD), got {v!r}", span))
        return None


def _read_toml(path: Path, root: Path, diags: list, texts: dict):
    span = Span(str(path), 1, 1, 1, 1)
    try:
        text = path.read_bytes().decode("utf-8-sig")
        texts[str(path)] = text
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        diags.append(Diagnostic("E500", f"cannot read pack.toml: {e}", span))
        return None, None
    pk = data.get("pack", {})
    missing = [k for k in ("name", "version") if not pk.get(k)]
    for k in missing:
        diags.append(Diagnostic("E500", f"pack.toml needs `[pack] {k} = ...`", span))
    if missing:
        return None, None
    if not NAME_RE.match(str(pk["name"])):
        diags.append(Diagnostic("E500", f"pack name `{pk['name']}` must be lower-case letters, digits and dashes",
                                span))
    if not VERSION_RE.match(str(pk["version"])):
        diags.append(Diagnostic("E504", f"version `{pk['version']}` is not calendar-based", span,
                                ("write YEAR.MAJOR.PATCH, e.g. 2026.1.0",)))
    lang = str(pk.get("language", LANGUAGE_VERSION))
    if lang != LANGUAGE_VERSION:
        diags.append(Diagnostic("E506", f"pack is written for language {lang}; this Rulecite reads {LANGUAGE_VERSION}",
                                span))
    known_tables = {"pack", "coverage", "record", "catalog", "docs"}
    for k in data:
        if k not in known_tables:
            diags.append(Diagnostic("E500", f"pack.toml has unknown table `[{k}]`", span,
                                    did_you_mean(k, known_tables)))
    cov = data.get("coverage", {})
    start = _date(cov["from"], "coverage.from", diags, span) if "from" in cov else None
    end = _date(cov["until"], "coverage.until", diags, span) if "until" in cov else None
    shape_data = data.get("record", {})
    fields = {a.name for a in attrs.fields(RecordShape)}
    for k in shape_data:
        if k not in fields:
            diags.append(Diagnostic("E500", f"`[record] {k}` is not a record setting", span,
                                    did_you_mean(k, fields)))
    shape = RecordShape(**{k: str(v) for k, v in shape_data.items() if k in fields})
    if shape.default_day not in ("first", "last"):
        diags.append(Diagnostic("E500", "`[record] default_day` is \"first\" or \"last\"", span))
        shape = attrs.evolve(shape, default_day="first")
    unknown = data.get("catalog", {}).get("unknown_codes", "warn")
    if unknown not in ("warn", "deny", "ignore"):
        diags.append(Diagnostic("E500", "`[catalog] unknown_codes` is warn, deny or ignore", span))
        unknown = "warn"
    cfg = PackConfig(str(pk["name"]), str(pk["version"]), str(pk.get("title", pk["name"])), lang,
                     Window(start, end), shape, unknown, str(root))
    cfg.explicit = {"coverage": bool(cov), "record": bool(shape_data), "catalog": "catalog" in data}
    return cfg, pk.get("extends") or None


def _inherit(cfg: PackConfig, parent: Pack, path: Path) -> PackConfig:
    explicit = cfg.explicit
    if not explicit.get("coverage"):
        cfg.coverage = parent.coverage
    if not explicit.get("record"):
        cfg.shape = parent.shape
    if not explicit.get("catalog"):
        cfg.unknown_codes = parent.unknown_codes
    return cfg


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text):
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def _read_schema(root: Path, parent: Pack | None, diags: list, texts: dict):
    path = root / "facts.schema.json"
    if not path.is_file():
        if parent is not None:
            return parent.schema
        diags.append(Diagnostic("E501", "the pack has no facts.schema.json", Span(str(path), 0, 0, 0, 0),
                                ("every pack needs a JSON Schema for one record; an extending pack inherits it",)))
        return None
    try:
        text = path.read_bytes().decode("utf-8-sig")
        texts[str(path)] = text
        schema = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        diags.append(Diagnostic("E501", f"facts.schema.json is not JSON: {e}", Span(str(path), 1, 1, 1, 1)))
        return None
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        diags.append(Diagnostic("E501", f"facts.schema.json is not a valid JSON Schema: {e.message}",
                                Span(str(path), 1, 1, 1, 1)))
        return None
    if not isinstance(schema, dict) or schema.get("type") != "object":
        diags.append(Diagnostic("E501", "facts.schema.json must describe an object (`\"type\": \"object\"`)",
                                Span(str(path), 1, 1, 1, 1)))
        return None
    return schema
