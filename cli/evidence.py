"""``rulecite evidence PACK FACTS --record ID --out DIR``: an evidence packet for one record."""

from __future__ import annotations

from pathlib import Path

import click
from rulecite import __version__

from rulecite.cli._errors import EXIT_OK, BadInput, why
from rulecite.cli._facts import find_record, rejected
from rulecite.cli._options import as_of_option, facts_argument, pack_argument, record_options
from rulecite.cli._output import stdout_text
from rulecite.cli._packs import load_rulepack, relpath


@click.command("evidence", short_help="Write an evidence packet for one record.")
@pack_argument
@facts_argument
@record_options
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Folder for the packet (created when missing).")
@as_of_option
def command(pack, facts, record_id, month, out_dir, as_of) -> int:
    """Write an evidence packet for one record: a self-contained HTML page and its
    Markdown twin with the facts the rules read, each verdict, the rule text, the
    citations with links, and the pack lock: what a practice hands an auditor."""
    from rulecite.interpreter.tools.evidence import evidence_packet

    rp = load_rulepack(pack)
    found = find_record(facts, rp, record_id, month, as_of)  # as `eval` reads it: its group's history
    if found.record is None:  # not even read as a record (not JSON, a repeated key): nothing to show
        raise rejected(rp.model.shape, record_id, found)
    packet = evidence_packet(rp, found.record, found.history, as_of=as_of, generated_by=f"Rulecite {__version__}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        html_path = out / f"{packet.name}.html"
        md_path = out / f"{packet.name}.md"
        html_path.write_text(packet.html, encoding="utf-8", newline="\n")
        md_path.write_text(packet.markdown, encoding="utf-8", newline="\n")
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot write the packet to `{out_dir}`: {why(e)}") from None
    for p in (html_path, md_path):
        click.echo(relpath(str(p.resolve())), file=stdout_text())
    return EXIT_OK
