"""The facts-schema page: every field of a record, its type, bounds and description.
"""

from __future__ import annotations

import json

from rulecite.interpreter.reports.markup import md_code, md_text
from rulecite.interpreter.reports.site.common import cell, front, generated_note
from rulecite.policy_lang.model import Pack


def schema_fields(schema: dict) -> list:
    """Every field of a record schema, depth first, as ``(path, node, required)``;
    the fields of list items get ``[]`` in their path."""
    out: list = []

    def walk(node, path):
        props = node.get("properties")
        if not isinstance(props, dict):
            return
        req = set(node.get("required") or ())
        for name in sorted(props, key=str):
            child = props[name]
            if not isinstance(child, dict):
                continue
            sub = f"{path}.{name}" if path else str(name)
            out.append((sub, child, name in req))
            walk(child, sub)
            items = child.get("items")
            if isinstance(items, dict):
                walk(items, sub + "[]")

    if isinstance(schema, dict):
        walk(schema, "")
    return out


def _type_text(node: dict) -> str:
    t = node.get("type", "any")
    if isinstance(t, list):
        t = " or ".join(str(x) for x in t)
    t = str(t)
    if t == "array":
        items = node.get("items") if isinstance(node.get("items"), dict) else {}
        inner = items.get("type", "any")
        t = "list of " + ("records" if inner == "object" else str(inner))
        if items.get("enum"):
            t += " (" + ", ".join(str(v) for v in items["enum"]) + ")"
    elif t == "object":
        t = "record"
    if node.get("format"):
        t += f" ({node['format']})"
    parts = [md_text(t)]
    if node.get("enum"):
        parts.append("one of " + ", ".join(md_code(v) for v in node["enum"]))
    for key, word in (("minimum", "≥"), ("maximum", "≤")):
        if key in node:
            parts.append(f"{word} {md_text(node[key])}")
    if "default" in node:
        parts.append(f"default {md_code(json.dumps(node['default']))}")
    return "; ".join(parts)


def schema_page(pack: Pack) -> str:
    schema = pack.schema if isinstance(pack.schema, dict) else {}
    out = front("Facts schema")
    out += [generated_note(pack), ""]
    if schema.get("title"):
        out += [f"**{md_text(schema['title'])}**", ""]
    if schema.get("description"):
        out += [md_text(schema["description"]), ""]
    out += ["One JSON object per record (JSON Lines for files), validated against the pack's "
            "`facts.schema.json` (JSON Schema 2020-12) before any rule runs: a record that fails is "
            "rejected with its JSON path, never judged. `[]` marks the items of a list.", "",
            "| Field | Type | Required | Description |", "|---|---|---|---|"]
    for path, node, required in schema_fields(schema):
        out.append(f"| {md_code(path)} | {_type_text(node)} | {'yes' if required else 'no'} | "
                   f"{cell(node.get('description'))} |")
    return "\n".join(out).rstrip() + "\n"
