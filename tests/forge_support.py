"""Forging checked packs for hostile tests: a node of a pack model swapped in place, past
the checker, to prove the compiler refuses (or safely escapes) what no checked pack holds."""

import attrs

# Fields of the model that hold no expression, or that the compiler never reads as one.
_SKIPPED = ("schema", "record_type", "files", "warnings", "tests", "span")


def replace_first(obj, pred, fn, done):
    """``obj`` with the first node (depth first) that ``pred`` accepts replaced by ``fn(node)``;
    ``done`` is a one-item list set to True once it is replaced."""
    if done[0]:
        return obj
    if pred(obj):
        done[0] = True
        return fn(obj)
    if isinstance(obj, tuple):
        items = tuple(replace_first(x, pred, fn, done) for x in obj)
        return items if done[0] else obj
    if attrs.has(type(obj)):
        for f in attrs.fields(type(obj)):
            if f.name in _SKIPPED or not f.init:
                continue
            old = getattr(obj, f.name)
            new = replace_first(old, pred, fn, done)
            if new is not old:
                return attrs.evolve(obj, **{f.name: new})
    return obj
