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

from rulecite.policy_lang.syntax.nodes import Span
from rulecite.policy_lang.amounts import load_pack_amounts
from rulecite.policy_lang.check import DEFAULT_MAX_DEPTH, PackConfig, check
from rulecite.policy_lang.errors import Diagnostic, did_you_mean, sort_diagnostics
from rulecite.policy_lang.files import PackFiles, UnsafeFile
from rulecite.policy_lang.model import Pack, RecordShape, Window

LANGUAGE_VERSION = "1"
VERSION_RE = re.compile(r"^(19|20|21)[0-9]{2}\.[0-9]+\.[0-9]+$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a record field named in [record]


@attrs.frozen
class LoadedPack:
    """What :func:`load` gives: the checked ``pack`` (None when it could not be read at
    all), every ``diagnostic`` (errors and warnings) and
    ``texts`` (file name -> text, for :func:`render_text` to show the lines they point at)."""

    pack: Pack | None
    diagnostics: tuple
    texts: dict = attrs.field(eq=False, repr=False)

    @property
    def ok(self) -> bool:
        """True when there is a pack and no diagnostic is an error (warnings allowed)."""
        return self.pack is not None and not any(d.severity == "error" for d in self.diagnostics)


def bundled_root() -> Path:
    """The folder holding the packs shipped with Rulecite (``rulecite.packs``)."""
    from importlib import resources

    return Path(str(resources.files("rulecite.packs")))


def bundled_names() -> list:
    """The names of the packs shipped with Rulecite (folders of ``rulecite.packs`` that hold
    a ``pack.toml``), sorted: what ``load`` and the CLI accept as a bare name."""
    root = bundled_root()
    return sorted(p.name for p in root.iterdir() if (p / "pack.toml").is_file())


BUNDLED_PREFIX = "bundled:"


def resolve_pack_path(path_or_name) -> Path | None:
    """The folder of a pack named on the command line, in the API or in ``extends``.

    How a name resolves (the same everywhere):

    - ``bundled:NAME`` is the bundled pack NAME, and nothing else;
    - a bare NAME (lower-case letters, digits, dashes) of a bundled pack is that bundled
      pack, even when the working directory holds a folder of the same name: a folder
      cannot stand in for a bundled pack by its name (write ``./NAME`` for the folder;
      the CLI prints a note when such a folder exists, see ``shadowed_folder``);
    - anything else is a folder holding ``pack.toml`` (or that ``pack.toml`` itself).

    None when there is no such pack.
    """
    try:
        return _resolve_pack_path(path_or_name)
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte, ...
        return None


def _bundled(name: str) -> Path | None:
    if not NAME_RE.match(name):
        return None
    try:
        cand = bundled_root() / name
        return cand if (cand / "pack.toml").is_file() else None
    except (OSError, ValueError):  # a name too long for the file system
        return None


def _resolve_pack_path(path_or_name) -> Path | None:
    if isinstance(path_or_name, str):
        if path_or_name.startswith(BUNDLED_PREFIX):
            return _bundled(path_or_name[len(BUNDLED_PREFIX):])
        bundled = _bundled(path_or_name)
        if bundled is not None:
            return bundled
    p = Path(path_or_name)
    if (p / "pack.toml").is_file():
        return p
    if p.name == "pack.toml" and p.is_file():
        return p.parent
    return None


def shadowed_folder(path_or_name) -> Path | None:
    """The folder in the working directory that a bare bundled-pack name does *not*
    mean (``resolve_pack_path`` picks the bundled pack), when there is one: the CLI
    says so on stderr, so nobody evaluates the bundled pack believing it is theirs."""
    if not isinstance(path_or_name, str) or _bundled(path_or_name) is None:
        return None
    try:
        p = Path(path_or_name)
        return p if (p / "pack.toml").is_file() else None
    except (OSError, ValueError):
        return None


def _is_absolute(text: str) -> bool:
    return Path(text).is_absolute() or text.startswith(("/", "\\")) or (len(text) > 1 and text[1] == ":")


def load(path_or_name, max_depth: int = DEFAULT_MAX_DEPTH, _chain: tuple = (),
         files: PackFiles | None = None) -> LoadedPack:
    """Parse and check a pack (and the packs it extends).

    Every file is read through ``files`` (a new ``PackFiles`` when None): only regular
    files inside each pack's folder, capped in size (see ``rulecite.policy_lang.files``).
    A caller that hashed the files first (the cache) passes the same ``PackFiles``, so
    what is parsed is exactly what was hashed.
    """
    files = PackFiles() if files is None else files
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
    try:
        toml_bytes = files.read(toml_file, root)
    except UnsafeFile as e:
        diags.append(Diagnostic("E505", f"pack.toml was not read: {e}", Span(str(toml_file), 0, 0, 0, 0)))
        return LoadedPack(None, tuple(diags), texts)
    cfg, extends, document_url = _read_toml(toml_file, root, diags, texts, toml_bytes)
    if cfg is None:
        return LoadedPack(None, tuple(sort_diagnostics(diags)), texts)
    cfg.read_file = lambda path: files.read(path, root)
    parent = None
    if extends:
        ext_span = _toml_span(toml_file, texts.get(str(toml_file), ""), "pack", "extends")
        ppath = resolve_extends(extends, root)
        if ppath is None:
            diags.append(Diagnostic("E502", f"`extends = \"{extends}\"`: no such pack", ext_span,
                                    did_you_mean(extends.removeprefix(BUNDLED_PREFIX), bundled_names())))
        elif ppath.resolve() in _chain + (root,):
            names = " -> ".join(p.name for p in _chain + (root, ppath.resolve()))
            diags.append(Diagnostic("E503", f"packs extend each other in a circle: {names}", ext_span))
        else:
            loaded = load(ppath, max_depth, _chain + (root,), files)
            texts.update(loaded.texts)
            if not loaded.ok:
                diags.extend(loaded.diagnostics)
                diags.append(Diagnostic("E502", f"extended pack `{extends}` has errors", ext_span))
            else:
                parent = loaded.pack
                cfg = _inherit(cfg, parent, toml_file)
    schema = _read_schema(root, parent, diags, texts, files)
    before_policy = any(d.severity == "error" for d in diags)  # pack.toml, extends, schema
    modules = []
    unparsed = None  # names declared by text that did not parse (None: every file parsed)
    try:
        policy_files = files.policy_files(root)
    except UnsafeFile as e:
        diags.append(Diagnostic("E505", f"the pack's .policy files were not read: {e}", Span(str(root), 0, 0, 0, 0)))
        policy_files = []
    for f in policy_files:
        rel = f.relative_to(root).as_posix()
        name = str(f)
        try:
            text = files.read(f, root).decode("utf-8")
        except UnsafeFile as e:
            diags.append(Diagnostic("E505", f"`{rel}` was not read: {e}", Span(name, 0, 0, 0, 0)))
            continue
        except UnicodeDecodeError as e:
            diags.append(Diagnostic("E505", f"cannot read `{rel}` as UTF-8 text ({e.__class__.__name__})",
                                    Span(name, 0, 0, 0, 0)))
            continue
        texts[name] = text
        from rulecite.policy_lang.syntax.parser import parse_partial  # (Lark: only for a load from source)

        module, errs, names = parse_partial(text, name)
        diags.extend(errs)
        if names is not None or any(d.severity == "error" for d in errs):
            unparsed = (unparsed or frozenset()) | (names or frozenset())
        if module is not None:
            modules.append(module)
    # Every error at once: a syntax error in one file leaves the rest of the pack (and the
    # declarations of that file that parse) to be checked; an error in pack.toml, the
    # schema, extends or an unread file leaves too little to check.
    if schema is None or before_policy or any(d.code == "E505" for d in diags):
        return LoadedPack(None, tuple(sort_diagnostics(diags)), texts)
    pack, errs = check(modules, cfg, schema, parent, texts, max_depth, unparsed=unparsed)
    diags.extend(errs)
    if pack is not None:
        own = tuple((Path(n).relative_to(root).as_posix(), t) for n, t in sorted(texts.items())
                    if Path(n).is_relative_to(root) and n.endswith(".policy"))
        if document_url is None and parent is not None:
            document_url = parent.document_url
        amounts, errs = load_pack_amounts(root, texts.get(str(toml_file), ""), pack, parent, files, texts)
        diags.extend(errs)
        # the lock covers the pack's own amounts table too (reports price lines with it)
        locked = own
        if amounts is not None and (parent is None or amounts is not parent.amounts):
            table = root / amounts.file
            locked = own + ((Path(amounts.file).as_posix(), texts.get(str(table), "")),)
        pack = attrs.evolve(pack, files=own, lock=lock_hash(root, locked, schema, parent,
                                                             texts.get(str(toml_file), "")),
                            document_url=document_url, amounts=amounts)
    return LoadedPack(pack, tuple(sort_diagnostics(diags)), texts)


def lock_hash(root: Path, files, schema: dict, parent: Pack | None, toml_text: str | None = None) -> str:
    """sha256 over pack.toml, the schema (canonical JSON), every .policy file and the
    amounts table (sorted by path, newlines normalized) and the parent's lock."""
    h = hashlib.sha256()
    h.update(b"rulecite-pack-lock-v1\0")
    if toml_text is None:
        toml_text = (root / "pack.toml").read_text(encoding="utf-8-sig")
    h.update(_norm(toml_text).encode() + b"\0")
    h.update(json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\0")
    for rel, text in sorted(files):
        h.update(rel.encode() + b"\0" + _norm(text).encode() + b"\0")
    h.update((parent.lock if parent else "").encode())
    return h.hexdigest()


def _norm(text: str) -> str:
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def resolve_extends(extends: str, root: Path) -> Path | None:
    """``extends``: ``bundled:NAME`` or a bundled pack's bare name (as on the command
    line), else a folder relative to the extending pack's own folder; never an
    absolute path."""
    if _is_absolute(extends):
        return None
    if extends.startswith(BUNDLED_PREFIX) or _bundled(extends) is not None:
        return resolve_pack_path(extends)
    try:
        rel = root / extends
        return rel if (rel / "pack.toml").is_file() else None
    except (OSError, ValueError):
        return None


def _date(v, key, diags, span) -> _dt.date | None:
    if isinstance(v, _dt.date):
        return v
    try:
        return _dt.date.fromisoformat(str(v))
    except ValueError:
        diags.append(Diagnostic("E500", f"`{key}` must be a date (YYYY-MM-DD), got {v!r}", span))
        return None


def _toml_span(path: Path, text: str, table: str | None = None, key: str | None = None) -> Span:
    """The span of ``[table] key = ...`` in pack.toml (of ``[table]`` without a key; of the
    first line when the key is not written in the file): a caret under the setting at fault."""
    lines = text.split("\n")
    current = None
    header = re.compile(r"^\s*\[\s*([A-Za-z0-9_-]+)\s*\]")
    for i, line in enumerate(lines, 1):
        m = header.match(line)
        if m:
            current = m.group(1)
            if table is not None and key is None and current == table:
                return Span(str(path), i, m.start(1) + 1, i, m.end(1) + 1)
            continue
        if key is not None and current == table:
            k = re.match(r"^(\s*)(" + re.escape(key) + r"|\"" + re.escape(key) + r"\")\s*=", line)
            if k:
                return Span(str(path), i, len(k.group(1)) + 1, i, k.end(2) + 1)
    return Span(str(path), 1, 1, 1, 1)


def _read_toml(path: Path, root: Path, diags: list, texts: dict, data: bytes | None = None):
    span = Span(str(path), 1, 1, 1, 1)
    try:
        text = (path.read_bytes() if data is None else data).decode("utf-8-sig")
        texts[str(path)] = text
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        diags.append(Diagnostic("E500", f"cannot read pack.toml: {e}", span))
        return None, None, None

    def at(table, key=None):
        return _toml_span(path, text, table, key)

    pk = data.get("pack", {})
    if not isinstance(pk, dict):
        diags.append(Diagnostic("E500", "`pack` in pack.toml must be a table (`[pack]`)", at(None, "pack")))
        return None, None, None
    missing = [k for k in ("name", "version") if not pk.get(k)]
    for k in missing:
        diags.append(Diagnostic("E500", f"pack.toml needs `[pack] {k} = ...`", at("pack")))
    if missing:
        return None, None, None
    if not NAME_RE.match(str(pk["name"])):
        diags.append(Diagnostic("E500", f"pack name `{pk['name']}` must be lower-case letters, digits and dashes",
                                at("pack", "name")))
    if not VERSION_RE.match(str(pk["version"])):
        diags.append(Diagnostic("E504", f"version `{pk['version']}` is not calendar-based", at("pack", "version"),
                                ("write YEAR.MAJOR.PATCH, e.g. 2026.1.0",)))
    lang = str(pk.get("language", LANGUAGE_VERSION))
    if lang != LANGUAGE_VERSION:
        diags.append(Diagnostic("E506", f"pack is written for language {lang}; this Rulecite reads {LANGUAGE_VERSION}",
                                at("pack", "language")))
    for k in ("title", "extends"):
        if k in pk and not isinstance(pk[k], str):
            diags.append(Diagnostic("E500", f"`[pack] {k}` must be a string", at("pack", k)))
    known_tables = {"pack", "coverage", "record", "catalog", "docs", "citations", "amounts"}
    for k in data:
        if k not in known_tables:
            diags.append(Diagnostic("E500", f"pack.toml has unknown table `[{k}]`", at(k),
                                    did_you_mean(k, known_tables)))
    cov = data.get("coverage", {})
    cov = cov if isinstance(cov, dict) else {}
    start = _date(cov["from"], "coverage.from", diags, at("coverage", "from")) if "from" in cov else None
    end = _date(cov["until"], "coverage.until", diags, at("coverage", "until")) if "until" in cov else None
    shape_data = data.get("record", {})
    shape_data = shape_data if isinstance(shape_data, dict) else {}
    fields = {a.name for a in attrs.fields(RecordShape)}
    for k in shape_data:
        if k not in fields:
            diags.append(Diagnostic("E500", f"`[record] {k}` is not a record setting", at("record", k),
                                    did_you_mean(k, fields)))
    shape_values = {}
    for k, v in shape_data.items():
        if k not in fields:
            continue
        if k == "default_day":
            shape_values[k] = str(v)
        elif isinstance(v, str) and FIELD_RE.match(v):
            shape_values[k] = v
        else:
            shape = repr(v) if len(repr(v)) <= 60 else repr(v)[:60] + "..."
            diags.append(Diagnostic("E500", f"`[record] {k}` must name a field of the record, got {shape}",
                                    at("record", k),
                                    ("a field name is letters, digits and underscores, not starting with a "
                                     "digit, as in the facts schema",)))
    # The core names no field of any domain: a pack says which fields hold the subject, the
    # period and the lines (an extending pack that has no [record] table inherits them).
    missing = [k for k in RECORD_SETTINGS if k not in shape_data]
    if missing and (shape_data or not pk.get("extends")):
        diags.append(Diagnostic("E500", "pack.toml needs `[record]` " + ", ".join(f"`{k}`" for k in missing)
                                + ": the fields of a record that hold " + ", ".join(RECORD_SETTINGS[k] for k in missing),
                                at("record") if "record" in data else at("pack"),
                                ('e.g. [record] id = "member_id", period = "month", lines = "loans", '
                                 'line_id = "line", line_code = "item", line_date = "date"',)))
    shape = RecordShape(**{k: shape_values.get(k, "") for k in RECORD_SETTINGS},
                        **({"default_day": shape_values["default_day"]} if "default_day" in shape_values else {}))
    if shape.default_day not in ("first", "last"):
        diags.append(Diagnostic("E500", "`[record] default_day` is \"first\" or \"last\"", at("record", "default_day")))
        shape = attrs.evolve(shape, default_day="first")
    catalog = data.get("catalog", {})
    unknown = catalog.get("unknown_codes", "warn") if isinstance(catalog, dict) else "warn"
    if unknown not in ("warn", "deny", "ignore"):
        diags.append(Diagnostic("E500", "`[catalog] unknown_codes` is warn, deny or ignore",
                                at("catalog", "unknown_codes")))
        unknown = "warn"
    docs = data.get("docs", {})
    docs = docs if isinstance(docs, dict) else {}
    for k in docs:
        if k not in DOCS_SETTINGS:
            diags.append(Diagnostic("E500", f"`[docs] {k}` is not a docs setting", at("docs", k),
                                    did_you_mean(k, DOCS_SETTINGS)))
    document_url = docs.get("document_url")
    if document_url is not None and not _document_url_ok(document_url):
        diags.append(Diagnostic("E500", "`[docs] document_url` must be an http(s) address holding `{document}`",
                                at("docs", "document_url"),
                                ('e.g. document_url = "https://www.federalregister.gov/d/{document}"',)))
        document_url = None
    cit = data.get("citations", {})
    cit = cit if isinstance(cit, dict) else {}
    for k in cit:
        if k != "require_primary":
            diags.append(Diagnostic("E500", f"`[citations] {k}` is not a citations setting", at("citations", k),
                                    did_you_mean(k, ("require_primary",))))
    require_primary = cit.get("require_primary", False)
    if not isinstance(require_primary, bool):
        diags.append(Diagnostic("E500", "`[citations] require_primary` is true or false",
                                at("citations", "require_primary")))
        require_primary = False
    extends = pk.get("extends") or None
    if isinstance(extends, str) and _is_absolute(extends):
        diags.append(Diagnostic("E502", f"`extends = \"{extends}\"`: a pack extends a bundled pack by name or a "
                                "folder by a path relative to its own folder, never an absolute path",
                                at("pack", "extends"),
                                ("write `extends = \"bundled:NAME\"` or a relative path such as `../base`",)))
        return None, None, None
    cfg = PackConfig(str(pk["name"]), str(pk["version"]), str(pk.get("title", pk["name"])), lang,
                     Window(start, end), shape, unknown, str(root))
    cfg.explicit = {"coverage": bool(cov), "record": bool(shape_data), "catalog": "catalog" in data}
    cfg.require_primary = require_primary
    return cfg, extends if isinstance(extends, str) else None, document_url


DOCS_SETTINGS = ("document_url",)
RECORD_SETTINGS = {"id": "the subject's id", "period": "the period (YYYY-MM)", "lines": "the list of lines",
                   "line_id": "a line's number", "line_code": "a line's code", "line_date": "a line's date"}


def _document_url_ok(template) -> bool:
    if not isinstance(template, str) or template.count("{document}") != 1:
        return False
    parts = template.replace("{document}", "x").split("://", 1)
    return len(parts) == 2 and parts[0] in ("http", "https") and bool(parts[1]) and \
        not any(ch in template for ch in "\"'<> \t\n\r")


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


def _read_schema(root: Path, parent: Pack | None, diags: list, texts: dict, files: PackFiles):
    path = root / "facts.schema.json"
    if not path.exists() and not path.is_symlink():
        if parent is not None:
            return parent.schema
        diags.append(Diagnostic("E501", "the pack has no facts.schema.json", Span(str(path), 0, 0, 0, 0),
                                ("every pack needs a JSON Schema for one record; an extending pack inherits it",)))
        return None
    try:
        text = files.read(path, root).decode("utf-8-sig")
    except UnsafeFile as e:
        diags.append(Diagnostic("E501", f"facts.schema.json was not read: {e}", Span(str(path), 0, 0, 0, 0)))
        return None
    except UnicodeDecodeError as e:
        diags.append(Diagnostic("E501", f"facts.schema.json is not UTF-8 text: {e}", Span(str(path), 1, 1, 1, 1)))
        return None
    try:
        texts[str(path)] = text
        schema = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (RecursionError, ValueError) as e:
        diags.append(Diagnostic("E501", f"facts.schema.json is not JSON: {e}", Span(str(path), 1, 1, 1, 1)))
        return None
    import jsonschema  # here: a load from the checked-pack cache never needs it

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
