"""``rulecite eval PACK FACTS``: evaluate records and write one result per record."""

from __future__ import annotations

import datetime as _dt
import json

import click
from rulecite import __version__
from rulecite.interpreter.engine.decode import DEFAULT_LIMITS, Limits
from rulecite.interpreter.engine.reading import OversizedLine

from rulecite.cli._errors import EXIT_FINDINGS, EXIT_OK, BadInput, RunStopped, why
from rulecite.cli._facts import open_facts
from rulecite.cli._options import as_of_option, facts_argument, pack_argument
from rulecite.cli._output import GuardedOutput, Progress, stderr_text, stdout_text
from rulecite.cli._packs import load_rulepack, pack_root
from rulecite.cli.eval_summary import SummarySink, fail_on_values, summary_amounts
from rulecite.cli.eval_writers import JsonlWriter, Tally, make_writer, summary  # noqa: F401 (tests patch JsonlWriter here)


@click.command("eval", short_help="Evaluate facts against a pack.")
@pack_argument
@facts_argument
@click.option("--output", "-o", type=click.Choice(["jsonl", "json", "table", "csv"]), default="jsonl",
              show_default=True,
              help="jsonl: Results contract v1, one line per input record in input order, rejections "
                   "included; json: the same as one array; table: for people; csv: for a spreadsheet, one row "
                   "per line and rule that fired on it (one per clean line), per suggestion and per rejection "
                   "reason, with the message, the rule's primary citation and the suggestion.")
@as_of_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Evaluate in N processes; the output is identical to one process.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="dask: evaluate a JSONL file on a Dask cluster, partitioned by subject.")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Dask scheduler address (with --engine dask); default: a local cluster.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, writable=True), default=None,
              metavar="FILE", help="Also write every rejection to FILE as JSON Lines.")
@click.option("--decision-log", "log_path", type=click.Path(dir_okay=False, writable=True), default=None,
              metavar="FILE",
              help="Append one audit line per record to FILE: input hash, pack lock, clock, verdicts, and "
                   "each finding's message, evidence and citations (see `rulecite verify-log`).")
@click.option("--decision-log-lean", "log_lean", is_flag=True,
              help="With --decision-log: keep only rule id, severity and line per finding (today's size), not "
                   "the message, evidence and citations.")
@click.option("--fail-on", "fail_on", multiple=True, callback=fail_on_values, metavar="deny|warn|reject",
              help="Exit 1 when a line is denied or a deny finding is made (deny), when any deny or warn "
                   "finding is made (warn), when a record is rejected (reject). Repeat it or join values with "
                   "commas: --fail-on deny,reject.")
@click.option("--summary", "money", is_flag=True,
              help="Write the money at stake to stdout instead of the results: billed, allowed and at-risk "
                   "amounts by code, per record and by rule (the top denial reasons), priced with the pack's "
                   "[amounts] and --rates.")
@click.option("--summary-format", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="The --summary as a table for people or as JSON (amounts as decimal strings).")
@click.option("--rates", "rates_path", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="With --summary: a CSV of your own amounts (columns code,amount and optionally from or "
                   "effective, until, note) that wins over the pack's for the codes and dates it covers.")
@click.option("--max-record-bytes", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_record_bytes,
              show_default=True, metavar="N",
              help="A JSON Lines record longer than N bytes is rejected before it is decoded.")
@click.option("--max-depth", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_depth, show_default=True,
              metavar="N", help="A record whose JSON nests deeper than N levels is rejected.")
@click.option("--max-steps", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_steps, show_default=True,
              metavar="N", help="A record whose evaluation walks more than N items (quantifiers, aggregates, "
                                "`in` over lists) is rejected, naming the rule.")
@click.option("--max-lines", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_lines, show_default=True,
              metavar="N", help="A record with more than N lines (the pack's [record] lines) is rejected.")
@click.option("--max-group", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_group, show_default=True,
              metavar="N", help="A subject's group (its records in a row, which history reads) holds at most N "
                                "records; the next ones form a new group, with a note on their results.")
@click.option("--quiet", "-q", is_flag=True, help="No summary on stderr.")
def command(pack, facts, output, as_of, jobs, engine, scheduler, rejects_path, log_path, fail_on,
            max_record_bytes, max_depth, quiet, log_lean=False, max_lines=DEFAULT_LIMITS.max_lines,
            max_group=DEFAULT_LIMITS.max_group, max_steps=DEFAULT_LIMITS.max_steps, money=False,
            summary_format="table", rates_path=None) -> int:
    """Evaluate FACTS against PACK: one result per record, in input order.

    FACTS is a JSON Lines file (streamed), a .json file holding an array of records
    (or one record), or - for stdin. Results go to stdout; the summary (records
    read, results, rejections, lines allowed and denied, findings by rule) and a
    progress line (on a terminal, for long runs) go to stderr. With --summary, stdout
    gets the money at stake instead of the results. Exits 0, or 1 with --fail-on when
    something it names happened.
    """
    rp = load_rulepack(pack)
    if engine == "dask" and (facts == "-" or facts.endswith(".json")):
        raise BadInput("--engine dask reads a JSON Lines file; give its path (not - or a .json file)")
    if scheduler and engine != "dask":
        raise BadInput("--scheduler needs --engine dask")
    if log_lean and not log_path:
        raise BadInput("--decision-log-lean needs --decision-log FILE")
    if rates_path is not None and not money:
        raise BadInput("--rates prices the --summary; add --summary")
    if money and output != "jsonl":
        raise BadInput("--summary writes the summary to stdout instead of the results; drop --output")
    sink = SummarySink(rp.model, summary_amounts(rp.model, rates_path)) if money else None
    source = open_facts(facts, max_record_bytes)
    out = GuardedOutput(stdout_text(), "standard output")
    writer = make_writer(output, out, rp.model) if not money else None
    tally = Tally()
    counted = not quiet or bool(fail_on)  # the summary and --fail-on read every result
    progress = Progress(source)
    rejects = _open(rejects_path, "w") if rejects_path else None
    rejects = GuardedOutput(rejects, f"`{rejects_path}`") if rejects is not None else None
    dlog = _open_log(log_path) if log_path else None
    logger, stopped = None, None
    try:
        from rulecite.interpreter.tools.audit import DecisionLogWriter, RawTee

        # the raw input of each result, when the decision log needs it or a parallel run's results
        # (which keep no record) are priced
        tee = dlog or (money and (jobs > 1 or engine != "local"))
        items = RawTee(source.items()) if tee else source.items()
        limits = Limits(max_record_bytes=max_record_bytes, max_depth=max_depth, max_lines=max_lines,
                        max_group=max_group, max_steps=max_steps)
        if dlog:  # the header now; entries as their subject's group ends; the footer in `finally`
            logger = DecisionLogWriter(dlog, rp, as_of, __version__, limits=limits, logged_at=_now(),
                                       lean=log_lean)
        finished = writer is not None and output in ("jsonl", "json") and logger is None  # JSON text is enough
        results = _results(rp, pack, facts, source, items, as_of, jobs, engine, scheduler, limits, finished, counted)
        if (writer is not None and not counted and rejects is None and logger is None and not tee and jobs == 1
                and engine == "local"):  # nothing to do but write each result (-q, no --fail-on, --rejects, log)
            _write_each(results, writer, tally, progress)
            results = ()
        for item in results:
            if item.kind == "chunk":  # finished in a worker (--jobs): its JSON text and counts
                _write_chunk(item, tally, counted, writer, rejects, progress)
                continue
            tally.add(item, counted)
            raw = items.pop(item.input_line) if tee else None
            if writer is not None:
                writer.write(item)
            else:
                sink.add(item, raw)
            if rejects is not None and item.kind == "rejection":
                rejects.write(item.to_json() + "\n")
            if logger is not None:
                logger.add(item, raw)
            progress.tick()
        if logger is not None:
            logger.finish()
        if writer is not None:
            writer.close()
        else:
            sink.write(out, summary_format)
        out.flush()
    except BaseException as e:
        detail = getattr(e, "message", None)
        stopped = f"the run stopped early ({e.__class__.__name__}{': ' + detail if detail else ''})"
        raise
    finally:
        progress.done()
        source.close()
        if stopped is not None:  # what was written before the stop is out (a run's own blocks: see GuardedOutput)
            try:
                out.flush()
            except RunStopped:
                pass  # the run is stopping with its own error
        if logger is not None:  # the footer: complete only when every entry was written
            try:
                logger.close(reason=stopped)
            except Exception as e:  # noqa: BLE001 - a run already stopping shows its own error; no footer
                if stopped is None:  # then says the log is incomplete
                    if isinstance(e, OSError):
                        raise BadInput(f"cannot write `{log_path}`: {why(e)}") from None
                    raise
        for f in (rejects, dlog):
            if f is not None:
                f.close()
    if not quiet:
        summary(tally, rejects_path, stderr_text())
    note = tally.unjudged_note(fail_on)
    if note:
        click.echo(note, file=stderr_text())
    return EXIT_FINDINGS if tally.fails(fail_on) else EXIT_OK


def _write_each(results, writer, tally, progress):
    """The loop in ``command`` when it only writes the results, in one process: each item
    written, counted as ``tally.add(item, counted=False)`` counts it, the progress line
    ticked when it shows."""
    write = writer.write
    tick = progress.tick if progress.enabled else None
    n = 0
    try:
        for item in results:
            write(item)
            if item.kind == "result":
                n += 1
            else:
                tally.add(item, False)
            if tick is not None:
                tick()
    finally:
        tally.records += n
        tally.results += n


def _write_chunk(chunk, tally, counted, writer, rejects, progress):
    """What the loop in ``command`` does to each item, done to a parallel run's ``FinishedChunk``."""
    tally.add_chunk(chunk, counted)
    if chunk.offset is not None:
        progress.source.bytes_read = chunk.offset
    if type(writer) is JsonlWriter and writer.utf8 and (chunk.file is not None or chunk.data is not None):
        chunk.write_to(writer.out)  # the worker's bytes as they are (from its file, in the kernel)
    else:
        writer.write_texts(chunk.texts)
    if rejects is not None:
        for r in chunk.rejections.values():
            rejects.write(r.to_json() + "\n")
    progress.tick(len(chunk))


def _results(rp, pack, facts, source, items, as_of, jobs, engine, scheduler, limits, finished=False, counted=True):
    if engine != "local" or jobs > 1:
        return _worker_failures(_engine_results(rp, pack, facts, source, items, as_of, jobs, engine, scheduler,
                                                limits, finished, counted))
    return _engine_results(rp, pack, facts, source, items, as_of, jobs, engine, scheduler, limits)


def _worker_failures(results):
    """The results of a parallel run; a worker process that died stops the run with a message."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        yield from results
    except BrokenProcessPool:
        raise RunStopped("a worker process stopped unexpectedly (killed, or out of memory): the output is "
                         "incomplete") from None


def _engine_results(rp, pack, facts, source, items, as_of, jobs, engine, scheduler, limits, finished=False,
                    counted=True):
    if engine == "dask":
        pack_root(pack)
        return _parallel().evaluate_dask(pack, facts, scheduler=scheduler, as_of=as_of, limits=limits)
    if jobs > 1 and finished and _plain_file(facts, source):  # the workers read their parts of the file
        # this process reads no record: the progress line's share of the file is where the
        # lines of the chunk being written start (see _write_chunk)
        return _parallel().evaluate_parallel(pack, None, jobs=jobs, as_of=as_of, limits=limits, finished=True,
                                             counts=counted, path=facts, pack=rp, spool=True)
    if jobs > 1:
        lines = (i if isinstance(i, (bytes, str, OversizedLine)) else json.dumps(i, ensure_ascii=False)
                 for i in items)
        return _parallel().evaluate_parallel(pack, lines, jobs=jobs, as_of=as_of, limits=limits, finished=finished,
                                             counts=counted, pack=rp, spool=finished)
    from rulecite.interpreter import evaluate

    return evaluate(rp, items, as_of=as_of, limits=limits)


def _plain_file(facts, source) -> bool:
    """Whether FACTS is a regular JSON Lines file, which workers can read in parts."""
    import os

    return (source.kind == "jsonl" and facts != "-" and not facts.endswith(".json")
            and os.path.isfile(facts))


def _parallel():
    try:
        from rulecite.interpreter.engine import parallel
    except ImportError:
        raise BadInput("--jobs and --engine dask need rulecite.interpreter.engine.parallel, which this installation "
                       "lacks") from None
    return parallel


def _open(path: str, mode: str):
    try:
        return open(path, mode, encoding="utf-8", newline="\n")
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot write `{path}`: {why(e)}") from None


def _open_log(path: str):
    """The decision log, opened to append and to read its last line (which the run chains to)."""
    try:
        return open(path, "a+b")
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot write `{path}`: {why(e)}") from None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
