"""``rulecite evidence PACK FACTS --record ID --out DIR`` (one record) or ``--all`` /
``--denied`` (a packet per record, and an index page)."""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import click
from rulecite import __version__

from rulecite.cli._errors import EXIT_OK, BadInput, why
from rulecite.cli._facts import find_record, open_facts, rejected
from rulecite.cli._options import as_of_option, facts_argument, pack_argument
from rulecite.cli._output import stdout_text
from rulecite.cli._packs import load_rulepack, relpath


@click.command("evidence", short_help="Write evidence packets: one record, or every record with an index.")
@pack_argument
@facts_argument
@click.option("--record", "record_id", default=None, metavar="ID",
              help="The record's id (the pack's [record] id): one packet.")
@click.option("--month", metavar="PERIOD", default=None,
              help="With --record: which period of that id (default: the latest in FACTS); earlier ones are its "
                   "history.")
@click.option("--all", "all_records", is_flag=True,
              help="A packet for every record of FACTS, and an index page (index.html, index.md).")
@click.option("--denied", is_flag=True,
              help="Like --all, for the records with a denied line only (the index lists rejected records too).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Folder for the packets (created when missing).")
@as_of_option
def command(pack, facts, record_id, month, all_records, denied, out_dir, as_of) -> int:
    """Write an evidence packet: a self-contained HTML page (print it to PDF from a
    browser) and its Markdown twin. Per claim line, a block to quote in an appeal
    letter: line, code, date of service, verdict, the rule's message, its citation and
    the record's fields behind it; then each finding with its rule text, the facts
    the rules read (as the record's JSON paths), the hashes of the input and the
    result, and the pack lock: what a practice hands an auditor.

    Give --record ID for one record, or --all (or --denied) for a packet per record
    plus an index page."""
    many = all_records or denied
    if many and (record_id is not None or month is not None):
        raise BadInput("--record/--month pick one record; --all and --denied write every record: give one or the other")
    if not many and record_id is None:
        raise BadInput("say which records: --record ID for one, --all for every record, --denied for the records "
                       "with a denied line")
    if not out_dir.strip():
        raise BadInput("--out is empty: give the folder to write the packets to", hints=("e.g. --out packets",))
    rp = load_rulepack(pack)
    out = Path(out_dir)
    if many:
        return _many(rp, facts, out, out_dir, as_of, denied)
    from rulecite.interpreter.tools.evidence import evidence_packet

    found = find_record(facts, rp, record_id, month, as_of)  # as `eval` reads it: its group's history
    if found.record is None:  # not even read as a record (not JSON, a repeated key): nothing to show
        raise rejected(rp.model.shape, record_id, found)
    packet = evidence_packet(rp, found.record, found.history, as_of=as_of, generated_by=f"Rulecite {__version__}")
    for p in _write(out, out_dir, [(f"{packet.name}.html", packet.html), (f"{packet.name}.md", packet.markdown)]):
        click.echo(relpath(str(p.resolve())), file=stdout_text())
    return EXIT_OK


def _many(rp, facts, out: Path, out_dir: str, as_of, denied: bool) -> int:
    from rulecite.interpreter.tools.evidence import evidence_packets, packets_index

    by = f"Rulecite {__version__}"
    _write(out, out_dir, [])  # the folder first: an unwritable one fails before any evaluation
    for name in ("index.html", "index.md"):  # and an index this command did not write, before any packet
        _check_ours(out / name, out_dir)
    source = open_facts(facts)
    entries = []
    try:
        for entry in evidence_packets(rp, source.items(), as_of=as_of, generated_by=by, denied_only=denied):
            if hasattr(entry, "html"):
                _write(out, out_dir, [(f"{entry.name}.html", entry.html), (f"{entry.name}.md", entry.markdown)])
                entry = attrs.evolve(entry, html="", markdown="")  # written: the index needs its name and summary
            entries.append(entry)
    finally:
        source.close()
    html, md = packets_index(rp, entries, as_of=as_of, generated_by=by, denied_only=denied)
    index = _write(out, out_dir, [("index.html", html), ("index.md", md)])
    n = sum(1 for e in entries if hasattr(e, "html"))
    click.echo(relpath(str(index[0].resolve())), file=stdout_text())
    click.echo(f"wrote {n} packet(s) and an index to {relpath(str(out.resolve()))}", err=True)
    return EXIT_OK


def _write(out: Path, out_dir: str, files) -> list:
    """Write each ``(name, text)`` into ``out``: through a temporary file renamed over the
    name, so a link there is replaced, never followed; a file there that this command
    did not write is never overwritten."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in files:
            path = out / name
            _check_ours(path, out_dir)
            tmp = out / f".{name}.rulecite-tmp"
            try:
                tmp.unlink(missing_ok=True)
                with open(tmp, "x", encoding="utf-8", newline="\n") as f:
                    f.write(text)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            written.append(path)
        return written
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot write the packet to `{out_dir}`: {why(e)}") from None


# How every page this command writes begins (after the HTML head): what may be overwritten.
_OURS = ("<h1>Evidence packet", "# Evidence packet")


def _check_ours(path: Path, out_dir: str) -> None:
    """Refuse to overwrite a file in the out folder that is no packet or index of ours."""
    if path.is_symlink() or not path.exists():
        return
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(16384)
    except OSError:
        head = ""
    if not path.is_file() or not any(h in head for h in _OURS):
        raise BadInput(f"`{out_dir}` already holds {path.name}, which is not an evidence packet or index: "
                       "writing would replace it",
                       hints=("give an empty or new folder with --out, or one an earlier `rulecite evidence` "
                              "wrote",))
