"""The JSON Schemas of the two contracts: facts in, results out.

Takes a checked ``Pack`` (or nothing); gives JSON Schema 2020-12 documents as dicts.
The facts schema is the pack's own ``facts.schema.json``. The results schema is
``results.schema.json`` (Results contract v1), with the subject id and period keys
renamed to the pack's ``[record] id`` and ``period`` and the id typed as the pack's
facts schema types it.
"""

from __future__ import annotations

import copy
import json
from importlib import resources


def results_schema(pack=None) -> dict:
    """Results contract v1; for a pack, with that pack's id and period key names."""
    schema = json.loads(resources.files("rulecite.interpreter.engine").joinpath("results.schema.json").read_text("utf-8"))
    if pack is None:
        return schema
    shape = pack.shape
    result = schema["$defs"]["result"]
    props = result["properties"]
    renamed = {}
    for key, value in props.items():
        key = {"patient_id": shape.id, "month": shape.period}.get(key, key)
        renamed[key] = value
    id_type = (pack.schema.get("properties") or {}).get(shape.id, {}).get("type")
    if id_type in ("string", "integer"):
        renamed[shape.id] = {"type": id_type}
    result["properties"] = renamed
    result["required"] = [{"patient_id": shape.id, "month": shape.period}.get(k, k) for k in result["required"]]
    schema["$id"] = f"urn:rulecite:results:v1:{pack.name}"
    schema["description"] = schema["description"].split(" The subject id")[0] + (
        f" Written for pack {pack.name} {pack.version}: the subject id is `{shape.id}`, the period `{shape.period}`.")
    return schema


def facts_schema(pack) -> dict:
    """The pack's facts schema (one record), as the interpreter validates with it."""
    return copy.deepcopy(pack.schema)
