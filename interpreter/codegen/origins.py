"""Where each generated line comes from, and what a failure in generated code was doing.

Takes the line map the compiler builds (one ``Origin`` or ``None`` per line of the
generated module) and an exception raised while a record was decided; gives the rule,
suggestion or derived value whose code was running (``blame``) and, when it can be told,
the JSON paths of the facts the failing expression read (``fact_paths``).

Nothing here runs on the hot path: a traceback is read only once evaluation has already
failed. The fact paths come from the failing instruction's source columns (``co_positions``)
in the innermost generated frame: the reads the compiler wrote there (``rec['month']``,
``ln.get('minutes')``, a walrus temporary holding one) are looked up in the table of read
templates the emitter kept (``Emitter.paths``); ``{ln}`` and loop variables in a template
become the index of the item being walked, found in that frame's locals.
"""

from __future__ import annotations

import itertools
import os
import re

import attrs

from rulecite.interpreter.codegen.tokens import comment

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@attrs.frozen
class Origin:
    """What a generated line belongs to: a ``rule``, ``suggestion``, ``let`` (derived value)
    or ``set``, its id or name, and its place (file relative to the pack's folder, line)."""

    kind: str
    name: str
    file: str
    line: int

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file and self.line else ""

    def __str__(self) -> str:
        where = self.where()
        return f"{self.kind} {self.name}" + (f" ({where})" if where else "")

    def comment(self) -> str:
        """The ``# kind NAME file:line`` line that opens its generated code (sanitised)."""
        return comment(self.kind, self.name, self.where())


def origin_of(pack, kind: str, name: str, node) -> Origin:
    """The origin of a pack item: ``file:line`` from its span, the file relative to the pack."""
    span = getattr(node, "span", None)
    f = getattr(span, "file", "")
    line = getattr(span, "line", 0)
    f = f if type(f) is str else ""
    line = line if type(line) is int else 0
    root = pack.root if type(pack.root) is str else ""
    if root and f and os.path.isabs(f):
        try:
            f = os.path.relpath(f, root)
        except ValueError:
            pass
    return Origin(kind, name, f.replace(os.sep, "/"), line)


def generated_frames(e: BaseException, filename: str) -> list:
    """(frame, line, last instruction) of each generated-code frame ``e`` passed through,
    outermost first."""
    out = []
    tb = e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            out.append((tb.tb_frame, tb.tb_lineno, tb.tb_lasti))
        tb = tb.tb_next
    return out


def blame(frames: list, line_map) -> Origin | None:
    """The rule or suggestion whose code was running: the outermost generated frame whose
    line belongs to one (a derived value or loop it called is deeper); failing that, the
    innermost origin of any kind (a derived value)."""
    found = [line_map[n - 1] for _, n, _ in frames if 0 < n <= len(line_map) and line_map[n - 1] is not None]
    for o in found:
        if o.kind in ("rule", "suggestion"):
            return o
    return found[-1] if found else None


def _segment(code, lasti: int, lines: list) -> str:
    """The source text of the instruction at ``lasti`` (what was being computed)."""
    if lasti < 0:
        return ""
    pos = next(itertools.islice(code.co_positions(), lasti // 2, None), None)
    if not pos or None in pos:
        return ""
    l0, l1, c0, c1 = pos
    if not 0 < l0 <= len(lines):
        return ""
    raw = lines[l0 - 1].encode("utf-8")
    return raw[c0:c1 if l1 == l0 else len(raw)].decode("utf-8", "replace")


def _index(name: str, frames: list, loops: dict, lines_field: str) -> str:
    """The index of the item ``name`` holds in what it walks: a line of the record (``ln``)
    or an item of a loop's source (``_s`` of the loop function); ``*`` when not found."""
    for frame, _, _ in reversed(frames):
        loc = frame.f_locals
        if name == "ln":
            rec = loc.get("rec")
            seq = rec.get(lines_field) if isinstance(rec, dict) else None
        elif frame.f_code.co_name == loops.get(name):
            seq = loc.get("_s")
        else:
            continue
        item = loc.get(name)
        if isinstance(seq, (list, tuple)) and item is not None:
            for i, x in enumerate(seq):
                if x is item:
                    return str(i)
    return "*"


def fact_paths(frames: list, source_lines: list, paths: dict, loops: dict, lines_field: str) -> list:
    """JSON paths of the facts the failing expression (innermost generated frame) read."""
    if not frames:
        return []
    frame, _, lasti = frames[-1]
    seg = _segment(frame.f_code, lasti, source_lines)
    if not seg:
        return []
    hits, taken = [], []
    for text in sorted((t for t in paths if not _NAME.fullmatch(t)), key=len, reverse=True):
        start = seg.find(text)
        while start >= 0:
            end = start + len(text)
            if not any(a < end and start < b for a, b in taken):
                taken.append((start, end))
                hits.append((start, paths[text]))
            start = seg.find(text, end)
    for m in _NAME.finditer(seg):
        if m.group() in paths and not any(a <= m.start() < b for a, b in taken):
            hits.append((m.start(), paths[m.group()]))
    out = []
    for _, template in sorted(hits):
        path = _PLACEHOLDER.sub(lambda m: _index(m.group(1), frames, loops, lines_field), template)
        if path not in out:
            out.append(path)
    return out
