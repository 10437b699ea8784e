"""The items of a pack comparison (``policy_lang.diff``, ``policy_lang.diff_values``): the
two sides compared, each thing that differs with its changed fields, and the ``PackDiff``
that holds them by section, as data (``to_dict``) in a fixed order; and a citation as the
language writes it (``cite_text``). Takes and gives plain values; reads no file.
"""

from __future__ import annotations

import datetime as _dt

from attrs import frozen


@frozen
class Side:
    name: str
    version: str
    lock: str
    date: _dt.date | None = None

    def to_dict(self) -> dict:
        out = {"name": self.name, "version": self.version, "sha256": self.lock}
        if self.date is not None:
            out["date"] = self.date.isoformat()
        return out

    def __str__(self) -> str:
        text = f"{self.name} {self.version}"
        return text + (f" on {self.date.isoformat()}" if self.date else "")


@frozen
class Change:
    field: str
    before: str | None
    after: str | None
    # The citations behind each side (``model.Citation``), for a change of a cited value
    # (a dated parameter's): the reports write them through the one citation formatter.
    cites_before: tuple = ()
    cites_after: tuple = ()

    def to_dict(self) -> dict:
        out = {"field": self.field, "before": self.before, "after": self.after}
        if self.cites_before or self.cites_after:
            out["citations_before"] = [c.to_dict() for c in self.cites_before]
            out["citations_after"] = [c.to_dict() for c in self.cites_after]
        return out


@frozen
class Item:
    """One rule, code, set, derived value or source that differs."""

    name: str
    kind: str  # added | removed | changed | superseded | retired | ended | replaced | effective
    title: str = ""
    note: str = ""
    changes: tuple = ()

    def to_dict(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "title": self.title}
        if self.note:
            out["note"] = self.note
        out["changes"] = [c.to_dict() for c in self.changes]
        return out


@frozen
class PackDiff:
    mode: str  # "packs" | "dates"
    old: Side
    new: Side
    rules: tuple = ()
    codes: tuple = ()
    sets: tuple = ()
    derived: tuple = ()
    sources: tuple = ()
    pack: tuple = ()  # pack.toml settings that change verdicts: coverage, record shape, catalog, extends
    parameters: tuple = ()  # dated parameters: a value added, changed or removed, with its date and citations
    definitions: tuple = ()  # `def`s added, removed or changed

    SECTIONS = ("pack", "rules", "parameters", "definitions", "codes", "sets", "derived", "sources")

    @property
    def empty(self) -> bool:
        return not any(getattr(self, s) for s in self.SECTIONS)

    def to_dict(self) -> dict:
        out = {"mode": self.mode, "old": self.old.to_dict(), "new": self.new.to_dict()}
        for s in self.SECTIONS:
            out[s] = [i.to_dict() for i in getattr(self, s)]
        return out



def cite_text(c) -> str:
    text = c.source.name
    if c.section:
        text += f' section "{c.section}"'
    text += f' page "{c.page}"' if c.page else " page unverified"
    if c.quote:
        text += f' quote "{c.quote}"'
    return text
