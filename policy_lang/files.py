"""Reading a pack's files: regular files inside the pack folder, capped, each read once.

Takes the folder of a pack (and, through ``extends``, the folders of the packs it
builds on); gives the bytes of each file the loader asks for, or an ``UnsafeFile``
error saying why a file was not read. Every file a load reads goes through one
``PackFiles`` object, which keeps the bytes: the checked-pack cache hashes exactly
the bytes that were parsed (an edit between hashing and parsing cannot be stored
under the old key), and nothing is read twice.

What is refused, before a byte is read:

- a path that resolves outside the pack's folder (a symlink to ``/etc/passwd``,
  ``/dev/zero``, or to a file of another pack): symlinks are followed only when they
  stay inside the folder;
- anything but a regular file (a FIFO would block a read forever, a device never
  ends): the file is opened non-blocking and checked with ``fstat`` on the open
  descriptor, so it cannot be swapped between the check and the read;
- a file larger than ``MAX_FILE_BYTES``, more than ``MAX_FILES`` ``.policy`` files,
  or more than ``MAX_PACK_BYTES`` read for one pack and the packs it extends
  (the size is checked on the descriptor and the read is bounded, so a file that
  grows while it is read is caught too).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

MAX_FILE_BYTES = 16 * 1024 * 1024  # one .policy, pack.toml, schema or test facts file
MAX_PACK_BYTES = 64 * 1024 * 1024  # every file read for one pack and the packs it extends
MAX_FILES = 5_000  # .policy files in one pack folder


class UnsafeFile(OSError):
    """A pack file that was not read, and why (the message is for the user)."""


class PackFiles:
    """The files one load reads, kept as bytes (see the module docstring)."""

    def __init__(self) -> None:
        self._data: dict = {}  # resolved path -> bytes
        self.total = 0

    def read(self, path: Path, root: Path) -> bytes:
        """The bytes of ``path``, a file that must resolve inside the folder ``root``."""
        root = Path(root).resolve()
        try:
            real = Path(path).resolve()
        except (OSError, RuntimeError) as e:  # a symlink loop
            raise UnsafeFile(f"cannot follow the path ({e.__class__.__name__})") from None
        if real != root and root not in real.parents:
            raise UnsafeFile("it lies outside the pack folder (a symlink pointing out of the pack is not followed)")
        if real in self._data:
            return self._data[real]
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(real, flags)
        except OSError as e:
            raise UnsafeFile(f"cannot open it ({e.strerror or e.__class__.__name__})") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeFile("it is not a regular file (a FIFO, device or folder is never read)")
            if st.st_size > MAX_FILE_BYTES:
                raise UnsafeFile(f"it is {st.st_size:,} bytes; a pack file may be at most {MAX_FILE_BYTES:,}")
            if self.total + st.st_size > MAX_PACK_BYTES:
                raise UnsafeFile(f"the pack's files pass {MAX_PACK_BYTES:,} bytes in all")
            chunks = []
            left = MAX_FILE_BYTES + 1
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            data = b"".join(chunks)
        except OSError as e:
            if isinstance(e, UnsafeFile):
                raise
            raise UnsafeFile(f"cannot read it ({e.strerror or e.__class__.__name__})") from None
        finally:
            os.close(fd)
        if len(data) > MAX_FILE_BYTES:
            raise UnsafeFile(f"it grew past {MAX_FILE_BYTES:,} bytes while it was read")
        self.total += len(data)
        if self.total > MAX_PACK_BYTES:
            raise UnsafeFile(f"the pack's files pass {MAX_PACK_BYTES:,} bytes in all")
        self._data[real] = data
        return data

    @staticmethod
    def policy_files(root: Path) -> list:
        """The ``.policy`` files under ``root``, sorted by relative path (at most
        ``MAX_FILES``; more is an ``UnsafeFile`` error). Only names are listed here:
        each file is checked when it is read."""
        root = Path(root)
        out = []
        try:
            for p in root.rglob("*.policy"):
                out.append(p)
                if len(out) > MAX_FILES:
                    raise UnsafeFile(f"the pack folder holds more than {MAX_FILES:,} .policy files")
        except UnsafeFile:
            raise
        except OSError as e:
            raise UnsafeFile(f"cannot list the pack folder ({e.strerror or e.__class__.__name__})") from None
        return sorted(out, key=lambda p: p.relative_to(root).as_posix())

    def digests(self) -> list:
        """(resolved path, sha256 hex) of every file read so far, sorted by path."""
        return sorted((str(p), hashlib.sha256(d).hexdigest()) for p, d in self._data.items())

    def __contains__(self, path) -> bool:
        return Path(path).resolve() in self._data
