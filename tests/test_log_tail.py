"""Appending a run to a decision log reads the log's last line from the end: the sha256
of its last non-blank line and whether it ends without a newline, in one pass over the
bytes it needs (a log whose last line is very long is read once, never re-split), the
same answer as splitting the whole file."""

from __future__ import annotations

import hashlib
import io
import random

import pytest

from rulecite.interpreter.tools.audit import log_tail


def _whole(data: bytes) -> tuple:
    """The answer read from the whole file at once."""
    if not data:
        return None, False
    torn = not data.endswith(b"\n")
    for line in reversed(data.split(b"\n")):
        if line.strip():
            return hashlib.sha256(line).hexdigest(), torn
    return None, torn


CASES = [b"", b"\n", b"   \n\t\n", b"a", b"a\n", b"a\r\n", b"a\n\n  \n", b"a\nb", b"a\nb  \r", b"x" * 100,
         b"first\n" + b"y" * 37 + b"\n" + b" " * 50, b"\n" * 40 + b"z", b"abc \x0b\x0c\n  "]


@pytest.mark.parametrize("data", CASES)
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 65536])
def test_the_tail_is_the_whole_files_last_line(data, chunk):
    assert log_tail(io.BytesIO(data), chunk=chunk) == _whole(data)


def test_random_logs_against_the_whole_file():
    rng = random.Random(7)
    alphabet = [b"a", b"{", b"}", b" ", b"\t", b"\r", b"\n", b"\n", b"\x0b", b"\xc3\xa9"]
    for _ in range(400):
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        for chunk in (1, 4, 16):
            assert log_tail(io.BytesIO(data), chunk=chunk) == _whole(data), (data, chunk)


def test_a_long_last_line_is_read_a_bounded_number_of_times():
    data = b'{"a": 1}\n' + b"x" * 200_000

    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, n=-1):
            out = super().read(n)
            Counting.read_bytes += len(out)
            return out

    f = Counting(data)
    assert log_tail(f, chunk=1000) == _whole(data)
    assert Counting.read_bytes <= 4 * len(data)  # each byte a few times at most, never once per chunk
