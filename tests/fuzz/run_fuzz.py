"""Run the atheris harnesses for a bounded time and report what they found.

    python tests/fuzz/run_fuzz.py --seconds 60 [--target parser|evaluate|all]

Each target runs in its own subprocess (libFuzzer flags ``-max_total_time``,
``-timeout``, ``-rss_limit_mb``, ``-artifact_prefix``) on a working corpus: a copy of
its seed corpus (``tests/fuzz/corpus/<target>/``) in a temporary folder, so that new
corpus entries never land in git-tracked folders. Crash inputs are written to
``tests/fuzz/artifacts/<target>/`` (git-ignored), each with a ``.log`` holding the
traceback. When a run stops at a crash, the target starts again for the time left, so
one run can find several bugs.

Exit status: 0 when no target crashed, 1 when one did (the report lists the
artifacts), 2 when atheris is not installed or the arguments are wrong.

To keep a crash as a regression case, copy it (minimized when that is easy:
``python tests/fuzz/fuzz_<target>.py -minimize_crash=1 -runs=2000 ARTIFACT``) to
``tests/fuzz/crashes/<target>/``; ``tests/test_fuzz_regressions.py`` replays it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = {
    "parser": HERE / "fuzz_parser.py",
    "evaluate": HERE / "fuzz_evaluate.py",
}
DICTS = {"parser": HERE / "policy.dict", "evaluate": HERE / "json.dict"}
ARTIFACTS = HERE / "artifacts"
CRASH_PREFIXES = ("crash-", "timeout-", "oom-", "leak-")
MAX_RESTARTS = 20


def _parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=60, help="fuzzing time per target (default 60)")
    ap.add_argument("--target", choices=sorted(TARGETS) + ["all"], default="all")
    ap.add_argument("--timeout", type=int, default=30, help="seconds one input may take before it is a finding")
    ap.add_argument("--rss-limit-mb", type=int, default=4096)
    ap.add_argument("--max-len", type=int, default=8192, help="largest input libFuzzer makes, in bytes")
    ap.add_argument("--keep-corpus", action="store_true",
                    help="keep the temporary working corpus (its path is printed) instead of deleting it")
    args = ap.parse_args(argv)
    if args.seconds < 1:
        ap.error("--seconds must be at least 1")
    return args


def _have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


_STAT = re.compile(r"^stat::(\w+):\s*(\d+)", re.M)
_STATUS = re.compile(r"^#(\d+)\s", re.M)
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


def _one_run(target: str, corpus: Path, art_dir: Path, seconds: int, args, log: Path) -> dict:
    cmd = [sys.executable, str(TARGETS[target]), str(corpus),
           f"-max_total_time={seconds}", f"-timeout={args.timeout}", f"-rss_limit_mb={args.rss_limit_mb}",
           f"-max_len={args.max_len}", f"-artifact_prefix={art_dir}{os.sep}", "-print_final_stats=1"]
    if DICTS[target].is_file():
        cmd.append(f"-dict={DICTS[target]}")
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")
    started = time.monotonic()
    with open(log, "w", encoding="utf-8", errors="replace") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        # Generous wall-clock guard: libFuzzer stops itself after max_total_time, but a
        # hang inside one input is only noticed after -timeout.
        try:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                  timeout=seconds + args.timeout + 120)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = -9
    elapsed = time.monotonic() - started
    text = log.read_text(encoding="utf-8", errors="replace")
    stats = {k: int(v) for k, v in _STAT.findall(text)}
    runs = stats.get("number_of_executed_units")
    if runs is None:
        found = _STATUS.findall(text)
        runs = int(found[-1]) if found else 0
    artifacts = [a for a in _ARTIFACT.findall(text) if Path(a).name.startswith(CRASH_PREFIXES)]
    return {"rc": rc, "runs": runs, "seconds": elapsed, "artifacts": artifacts, "text": text}


def _traceback(text: str) -> str:
    """The part of a libFuzzer log that explains a crash."""
    i = text.find("=== Uncaught Python exception")
    if i < 0:
        i = max(text.rfind("==ERROR"), text.rfind("ALARM"), 0)
    j = text.rfind("records (save as", 0, i)  # the structured records fuzz_evaluate prints
    if j >= 0:
        i = text.rfind("\n", 0, j) + 1
    return text[i:]


def run_target(target: str, args, work: Path) -> dict:
    seeds = HERE / "corpus" / target
    corpus = work / f"corpus-{target}"
    shutil.copytree(seeds, corpus)
    art_dir = ARTIFACTS / target
    art_dir.mkdir(parents=True, exist_ok=True)
    total = {"target": target, "runs": 0, "seconds": 0.0, "crashes": [], "restarts": 0, "logs": [],
             "seeds": sum(1 for p in seeds.iterdir() if p.is_file()), "errors": []}
    deadline = time.monotonic() + args.seconds
    attempt = 0
    while True:
        left = int(deadline - time.monotonic())
        if attempt and left < 5:
            break
        log = work / f"{target}-{attempt}.log"
        r = _one_run(target, corpus, art_dir, max(left, 1), args, log)
        total["runs"] += r["runs"]
        total["seconds"] += r["seconds"]
        total["logs"].append(str(log))
        for a in r["artifacts"]:
            tb = _traceback(r["text"])
            Path(a + ".log").write_text(tb, encoding="utf-8", errors="replace")
            total["crashes"].append(a)
        if r["rc"] != 0 and not r["artifacts"]:
            total["errors"].append(f"the harness exited with status {r['rc']} without an artifact; see {log}")
            break
        if not r["artifacts"]:
            break  # ran to the end of its time
        attempt += 1
        total["restarts"] = attempt
        if attempt > MAX_RESTARTS:
            break
    total["corpus_units"] = sum(1 for p in corpus.iterdir() if p.is_file())
    return total


def main(argv=None) -> int:
    args = _parse_args(argv)
    if not _have_atheris():
        print("run_fuzz: atheris is not installed in this Python "
              f"({sys.executable}); install it with `{sys.executable} -m pip install atheris` "
              "(or run `make fuzz`, which does)", file=sys.stderr)
        return 2
    targets = sorted(TARGETS) if args.target == "all" else [args.target]
    work = Path(tempfile.mkdtemp(prefix="rulecite-fuzz-"))
    reports = []
    try:
        for t in targets:
            print(f"fuzzing {t} for {args.seconds}s (working corpus in {work})", flush=True)
            reports.append(run_target(t, args, work))
    finally:
        if not args.keep_corpus:
            keep = any(r["crashes"] or r["errors"] for r in reports)
            if keep:  # the logs explain the crashes: keep them, drop the corpora
                for p in work.glob("corpus-*"):
                    shutil.rmtree(p, ignore_errors=True)
            else:
                shutil.rmtree(work, ignore_errors=True)
    print()
    print("fuzz report")
    print("-----------")
    bad = False
    for r in reports:
        rate = r["runs"] / r["seconds"] if r["seconds"] else 0.0
        print(f"{r['target']}: {r['runs']} executions in {r['seconds']:.0f}s ({rate:.1f}/s), "
              f"{r['seeds']} seeds -> {r['corpus_units']} corpus units, {len(r['crashes'])} crash(es)"
              + (f", {r['restarts']} restart(s)" if r["restarts"] else ""))
        for a in r["crashes"]:
            print(f"  crash: {a}  (traceback: {a}.log)")
        for e in r["errors"]:
            print(f"  error: {e}")
        bad = bad or bool(r["crashes"] or r["errors"])
    if bad:
        print(f"\nlogs: {work}")
        print("keep a crash as a regression case: copy it to tests/fuzz/crashes/<target>/ "
              "(tests/test_fuzz_regressions.py replays it)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
