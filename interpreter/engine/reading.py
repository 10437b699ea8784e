"""Reading JSON Lines with a bounded read: no line is ever held whole past the size limit.

``read_lines(stream, limit)`` yields each line of a binary stream as ``bytes`` (line
end included, as a file object gives it), except a line longer than ``limit`` bytes:
of that one it reads at most ``limit`` bytes and then skips, in pieces of
``SKIP_PIECE`` bytes, to the next newline, and yields an :class:`OversizedLine`
holding only its length. The engine turns that into the same rejection a whole line
of that length gets (``record is N bytes; the limit is M``), so memory stays bounded
by the limit whatever the input holds.
"""

from __future__ import annotations

SKIP_PIECE = 65_536


class OversizedLine:
    """A line longer than the record-size limit, read no further than needed to count it."""

    __slots__ = ("size",)

    def __init__(self, size: int):
        self.size = size

    def __reduce__(self):
        return (OversizedLine, (self.size,))

    def __eq__(self, other):
        return isinstance(other, OversizedLine) and other.size == self.size

    def __hash__(self):
        return hash(("OversizedLine", self.size))

    def __repr__(self) -> str:
        return f"OversizedLine({self.size})"


def read_lines(stream, limit: int):
    """The lines of ``stream`` (binary), each read with at most ``limit + 1`` bytes at once."""
    readline = stream.readline
    while True:
        raw = readline(limit + 1)
        if not raw:
            return
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield raw  # a line of limit + 1 bytes ending in a newline: the engine rejects it whole
            continue
        size = len(raw)
        del raw
        while True:
            piece = readline(SKIP_PIECE)
            size += len(piece)
            if not piece or piece.endswith(b"\n"):
                break
        yield OversizedLine(size)
