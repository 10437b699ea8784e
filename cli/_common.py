"""What the commands share, by job: ``_errors`` (BadInput, RunStopped, exit codes),
``_packs`` (finding and loading a pack), ``_options`` (shared options), ``_facts``
(reading FACTS, finding one record as ``eval`` reads it), ``_output`` (where and how
to write). Import from those; this module only names them again for a command not
yet moved to them (``check``), and ``citation_text`` for the one that replaces it.
"""

from __future__ import annotations

from rulecite.cli._errors import EXIT_FINDINGS, EXIT_OK
from rulecite.cli._options import pack_argument
from rulecite.cli._output import stdout_text, write_json
from rulecite.interpreter.reports.citations import citation_text
from rulecite.cli._packs import pack_root, relative_spans

__all__ = ["EXIT_FINDINGS", "EXIT_OK", "citation_text", "pack_argument", "pack_root", "relative_spans",
           "stdout_text", "write_json"]
