"""`make bench`: measure Rulecite against the performance anchors and write RESULTS.md.

Usage: python benchmarks/run.py [--quick] [--out benchmarks/RESULTS.md]

Everything in the file comes from this one run (timings on these machines are noisy:
compare ratios within one run). Steps:

1. records from the anchors' generator (../shared/perf-anchors/gen.py), JSON Lines in
   benchmarks/data/ (git-ignored);
2. the anchor engines in their own venv (benchmarks/.venv-anchors, from the anchors'
   requirements.txt; an engine that does not install is reported, not fatal);
3. the anchor pack (benchmarks/anchor-pack) checked against hand.py on every record,
   then every engine timed on the same parsed records, each in its own process
   (median of timed runs, gc enabled, gc.collect() before each run, like the anchors);
4. where Rulecite's time goes (schema scan, decide, results) and a cProfile;
5. cost against records (1k .. 1M, streamed from JSON Lines) and against pack size
   (rule copies bound to codes the records do not have);
6. the CMS pack on `rulecite synth` records: throughput per core and a profile;
7. `rulecite eval` end to end, JSONL in and out: one process and --jobs 2, peak RSS;
8. pack load time (parse + check, compile).

--quick uses smaller sizes (about 3 minutes); the full run stays under ~20 minutes on
2 cores.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ANCHORS = (ROOT.parent / "shared" / "perf-anchors").resolve()
ANCHOR_PACK = HERE / "anchor-pack"
DATA = HERE / "data"
ANCHOR_VENV = HERE / ".venv-anchors"
IDS = {"apcm.addon.same-npi": "R1", "apcm.addon.effective": "R2", "apcm.ccm.same-npi": "R3",
       "ccm.99439.max-units": "R4", "ccm.99490.minutes": "R5", "ccm.99439.minutes": "R6",
       "apcm.g0558.qmb": "R7", "g0511.ended": "R8", "consent.required": "R9"}
FAST = {"hand", "hand_tuned", "closures", "rulecite"}
ENGINES = ["hand", "hand_tuned", "closures", "zen_expr", "zen_graph", "regorus", "cel_rust", "jsonlogic"]


# ---------------------------------------------------------------- helpers


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def data_file(n: int) -> Path:
    path = DATA / f"anchor-{n}.jsonl"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        log(f"generating {n:,} anchor records")
        with open(str(path) + ".tmp", "w") as fh:
            subprocess.run([sys.executable, str(ANCHORS / "gen.py"), str(n)], stdout=fh, check=True)
        os.replace(str(path) + ".tmp", path)
    return path


def synth_file(n: int) -> Path:
    path = DATA / f"cms-synth-{n}.jsonl"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        log(f"synthesizing {n:,} CMS records")
        with open(str(path) + ".tmp", "w") as fh:
            subprocess.run([str(Path(sys.executable).parent / "rulecite"), "synth", "cms-care-management", str(n)],
                           stdout=fh, check=True)
        os.replace(str(path) + ".tmp", path)
    return path


def load_records(path: Path) -> list:
    gc.disable()  # json.loads into a growing list is ~4x slower with the collector running
    try:
        with open(path, "rb") as fh:
            return [json.loads(x) for x in fh]
    finally:
        gc.enable()


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(task: str, *args, python=None, timeout=1800) -> dict:
    cmd = [python or sys.executable, str(Path(__file__).resolve()), "--child", task, *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1][:300]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def rulecite_fn():
    from rulecite.interpreter import evaluate, load_pack

    pack = load_pack(ANCHOR_PACK)
    cache: dict = {}

    def conv(rules):
        c = cache.get(rules)
        if c is None:
            c = cache[rules] = tuple(sorted(IDS[x] for x in rules))
        return c

    def fn(records):
        # The whole public path: validation, rules, a Result per record, read through its API.
        return [[(v.line, v.verdict, conv(v.rules)) for v in r.lines] for r in evaluate(pack, records)]

    return fn


def engine_fn(name: str):
    if name == "rulecite":
        return rulecite_fn()
    sys.path.insert(0, str(ANCHORS))
    from registry import load

    return load(name)


# ---------------------------------------------------------------- child tasks


def task_time(engine: str, path: str, runs: str) -> dict:
    fn = engine_fn(engine)
    records = load_records(Path(path))
    fn(records[:10])
    gc.collect()
    loaded = rss_mb()
    times = []
    for _ in range(int(runs)):
        gc.collect()
        t0 = time.perf_counter()
        res = fn(records)
        times.append(time.perf_counter() - t0)
        assert len(res) == len(records)
        del res
    return {"times": times, "median": statistics.median(times), "loaded_mb": round(loaded), "peak_mb": round(peak_mb())}


def task_check(path: str) -> dict:
    sys.path.insert(0, str(ANCHORS))
    from engines import hand

    records = load_records(Path(path))
    ref = hand.evaluate(records)
    got = rulecite_fn()(records)
    diffs = [i for i, (a, b) in enumerate(zip(ref, got)) if a != b]
    return {"records": len(records), "lines": sum(len(r) for r in ref), "denied": sum(x[1] == "deny" for r in ref for x in r),
            "differ": len(diffs) + abs(len(ref) - len(got)), "first": diffs[:3]}


def task_versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in ["zen-engine", "gordon-to-regorus", "common-expression-language", "cel-python", "panzi-json-logic"]:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def task_breakdown(path: str) -> dict:
    """Per record: the schema scan, decide (the rules), and building results from decide."""
    from rulecite.interpreter import load_pack
    from rulecite.interpreter.engine.evaluator import Evaluator

    cp = load_pack(ANCHOR_PACK).compiled(None)
    ev = Evaluator(cp)
    records = load_records(Path(path))
    out = {}
    for name, f in [("scan", ev.scan), ("prepare", lambda r: ev.prepare(r, 1)), ("decide", lambda r: cp.decide(r, [])),
                    ("result", lambda r: ev.result(r, [], 1)),
                    ("to_json", None)]:
        if f is None:
            results = [ev.result(r, [], 1) for r in records]
            gc.collect()
            t0 = time.perf_counter()
            for r in results:
                r.to_json()
        else:
            gc.collect()
            t0 = time.perf_counter()
            for r in records:
                f(r)
        out[name] = 1e6 * (time.perf_counter() - t0) / len(records)
    return out


def task_profile(pack: str, path: str, n: str) -> dict:
    import cProfile
    import io
    import pstats

    from rulecite.interpreter import evaluate, load_pack

    p = load_pack(pack)
    records = load_records(Path(path))[: int(n)]
    prof = cProfile.Profile()
    prof.enable()
    for _ in evaluate(p, records):
        pass
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(14)
    text = s.getvalue()
    rows = [_relative_paths(ln) for ln in text.splitlines() if re.match(r"\s+\d", ln)]
    return {"rows": rows}


def _relative_paths(line: str) -> str:
    """A profile row with file names relative to the project (or to site-packages), so the
    report names no folder of the machine it ran on."""
    import site
    import sysconfig

    roots = [(str(ROOT) + os.sep, ""), (sysconfig.get_paths()["stdlib"] + os.sep, "<stdlib>/")]
    roots += [(p + os.sep, "<site-packages>/") for p in site.getsitepackages()]
    for root, label in sorted(roots, key=lambda r: -len(r[0])):
        line = line.replace(root, label)
    return line


def task_stream(pack: str, path: str) -> dict:
    """evaluate() over JSON Lines read lazily: decode, validate, rules, results."""
    from rulecite.interpreter import evaluate, load_pack

    p = load_pack(pack)
    t0 = time.perf_counter()
    n = 0
    with open(path, "rb") as fh:
        for _ in evaluate(p, fh):
            n += 1
    dt = time.perf_counter() - t0
    return {"n": n, "seconds": dt, "peak_mb": round(peak_mb())}


def task_parsed(pack: str, path: str, runs: str) -> dict:
    from rulecite.interpreter import evaluate, load_pack

    p = load_pack(pack)
    records = load_records(Path(path))
    list(evaluate(p, records[:10]))
    times = []
    for _ in range(int(runs)):
        gc.collect()
        t0 = time.perf_counter()
        for r in evaluate(p, records):
            r.lines  # noqa: B018 - read the verdicts, as a caller does
        times.append(time.perf_counter() - t0)
    return {"n": len(records), "median": statistics.median(times)}


def task_load(pack: str, mode: str = "source") -> dict:
    """One pack load in a fresh process: ``source`` parses and checks; ``cache`` reads
    the checked-pack cache (the parent filled it first, in the folder it names)."""
    t0 = time.perf_counter()
    from rulecite.interpreter import load_pack  # noqa: F401
    from rulecite.interpreter.codegen.compiler import CompiledPack
    from rulecite.policy_lang import load
    from rulecite.policy_lang.cache import load_cached

    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    if mode == "cache":
        loaded, how = load_cached(pack)
        assert how == "hit", how
    else:
        loaded = load(pack)
    t_check = time.perf_counter() - t0
    t0 = time.perf_counter()
    CompiledPack(loaded.pack)
    t_compile = time.perf_counter() - t0
    return {"import": t_import, "parse_check": t_check, "compile": t_compile, "rules": len(loaded.pack.rules)}


TASKS = {"time": task_time, "check": task_check, "versions": task_versions, "breakdown": task_breakdown,
         "profile": task_profile, "stream": task_stream, "parsed": task_parsed, "load": task_load}


# ---------------------------------------------------------------- the run


def anchor_python(report: list) -> str | None:
    """The anchor engines' venv python (created on first use)."""
    py = ANCHOR_VENV / "bin" / "python"
    if not py.exists():
        log("creating", ANCHOR_VENV)
        subprocess.run([sys.executable, "-m", "venv", str(ANCHOR_VENV)], check=True)
    failed = []
    req = ANCHORS / "requirements.txt"
    for line in req.read_text().splitlines():
        spec = line.split("#")[0].strip()
        if not spec:
            continue
        name = re.split(r"[=<>!~ ]", spec)[0]
        have = subprocess.run([str(py), "-m", "pip", "show", "-q", name], capture_output=True).returncode == 0
        if not have:
            log("installing", spec)
            r = subprocess.run([str(py), "-m", "pip", "install", "-q", spec], capture_output=True, text=True)
            if r.returncode != 0:
                failed.append(spec)
    if failed:
        report.append(f"- Engines that did not install: {', '.join(failed)}.")
    return str(py)


def pack_copies(k: int, tmp: Path) -> Path:
    """The anchor pack with k-1 copies of every rule, each copy bound to codes no record has."""
    dst = tmp / f"anchor-x{k}"
    if dst.exists():
        return dst
    shutil.copytree(ANCHOR_PACK, dst)
    text = (ANCHOR_PACK / "anchor.policy").read_text()
    rules = text[text.index("\nrule ") + 1:]
    codes = ["G0556", "G0557", "G0558", "G0568", "G0569", "G0570", "99490", "99439", "99491", "G0511", "99484"]
    extra = []
    for j in range(1, k):
        c = {code: f"Q{j:03d}X{code}" for code in codes}
        extra += [f'code {c[x]} "copy {j} of {x}" {{ program {p}  cite ANCHOR }}'
                  for x, p in zip(codes, ["APCM"] * 6 + ["CCM"] * 4 + ["BHI"])]
        extra.append(f"set APCM_BASE_{j} = {{{c['G0556']}, {c['G0557']}, {c['G0558']}}}")
        extra.append(f"set APCM_ADDON_{j} = {{{c['G0568']}, {c['G0569']}, {c['G0570']}}}")
        extra.append(f"set CCM_{j} = {{{c['99490']}, {c['99439']}, {c['99491']}}}")
        extra.append(f"set ALL_{j} = {{{', '.join(c.values())}}}")
        r = rules
        for name in ("APCM_BASE", "APCM_ADDON", "CCM"):
            r = re.sub(rf"\b{name}\b", f"{name}_{j}", r)
        for code in codes:
            r = r.replace(f'"{code}"', f'"{c[code]}"')
        r = r.replace("present(program_of(line.code))", f"line.code in ALL_{j}")
        r = re.sub(r"^rule ([\w.-]+)", lambda m: f"rule copy{j}.{m.group(1)}", r, flags=re.M)
        extra.append(r)
    (dst / "copies.policy").write_text("\n".join(extra) + "\n")
    return dst


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(TASKS[sys.argv[2]](*sys.argv[3:])))
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()
    q = args.quick
    big = 10_000 if q else 100_000
    e2e_big = 100_000 if q else 1_000_000
    started = time.time()
    notes: list = []
    md: list = []
    if not (ANCHORS / "gen.py").exists():
        sys.exit(f"the performance anchors are not at {ANCHORS}")

    # -- machine
    md += ["# Rulecite benchmarks", "",
           f"Generated by `make bench` (`python benchmarks/run.py{' --quick' if q else ''}`) on "
           f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Every figure below comes from this one run; "
           "timings on these machines are noisy, so compare ratios within the run.", "",
           "## Machine", "",
           f"- {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
           f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30:.0f} GiB RAM, {platform.system()}",
           f"- CPython {platform.python_version()}"]
    apy = anchor_python(notes)
    versions = child("versions", python=apy)
    md.append("- Compared engines (anchor venv): " + ", ".join(f"{k} {v or 'not installed'}" for k, v in versions.items()))
    try:
        import orjson
        md.append(f"- Rulecite with orjson {orjson.__version__} (the `fast` extra) for decoding JSON Lines and writing results (same bytes as without it)")
    except ImportError:
        md.append("- Rulecite without orjson (standard json decoding)")
    load = os.getloadavg()
    md.append(f"- Load average when the run started: {load[0]:.1f} (other work on the machine slows every engine "
              "alike within a step, but not evenly across steps)")
    md.append("")
    summary_at = len(md)  # "Targets at a glance" goes here once everything is measured
    glance: list = []

    # -- equivalence, then the anchor table
    path = data_file(big)
    chk = child("check", path)
    log("check:", chk)
    md += ["## The anchor policy", "",
           f"`benchmarks/anchor-pack` (policy.md as a pack; its facts schema is facts contract v1, the CMS pack's) "
           f"against `engines/hand.py` on all {big:,} records before timing: "
           + (f"**identical verdicts** on {chk['records']:,} records ({chk['lines']:,} lines, {chk['denied']:,} denied)."
              if chk.get("differ") == 0 else f"**DIFFERENT** on {chk.get('differ')} records: {chk}"), ""]
    rows = []
    rates = {}
    for eng in ENGINES + ["rulecite"]:
        runs = 5 if eng in FAST else 3
        r = child("time", eng, path, runs, python=None if eng == "rulecite" else apy)
        if "median" in r:
            rates[eng] = big / r["median"]
            log(f"{eng:12s} {rates[eng]:>10,.0f} rec/s")
        else:
            log(eng, r)
        rows.append((eng, r, runs))
    md += [f"Records per second on {big:,} parsed records (median of the runs shown; each engine in its own "
           "process). Rulecite's time is the whole public path: schema validation, the rules, a `Result` per "
           "record with findings (messages, evidence, citations), read through `result.lines`.", "",
           "| engine | rec/s | vs hand | µs/record | runs | RSS loaded→peak MB |", "|---|---|---|---|---|---|"]
    for eng, r, runs in rows:
        if "median" in r:
            md.append(f"| {eng} | {rates[eng]:,.0f} | {rates[eng] / rates['hand']:.2f}× | {1e6 / rates[eng]:.1f} | "
                      f"{runs} | {r['loaded_mb']}→{r['peak_mb']} |")
        else:
            md.append(f"| {eng} | not run: {r.get('error', '?')} | | | | |")
    ratio = rates.get("rulecite", 0) / rates["hand"] if "hand" in rates else 0
    md += ["", f"**Rulecite / hand.py = {ratio:.2f}×** (must: 0.67×, goal: 1.0×).", ""]
    glance.append(("Anchor, parsed records: Rulecite / hand.py", "≥ 0.67× (goal 1.0×)", f"{ratio:.2f}×",
                   ratio >= 0.67))

    # -- where the time goes
    bd = child("breakdown", path)
    md += ["### Where Rulecite's time goes (anchor pack, µs per record)", "",
           "| step | µs/record |", "|---|---|"]
    for k, label in [("scan", "schema scan (compiled validator, fast path)"),
                     ("prepare", "prepare = scan + coverage check"),
                     ("decide", "decide: the rules (generated code)"),
                     ("result", "result = decide + findings (message, evidence) + Result"),
                     ("to_json", "to_json of a result (end-to-end output only)")]:
        md.append(f"| {label} | {bd.get(k, float('nan')):.2f} |")
    prof = child("profile", str(ANCHOR_PACK), path, min(big, 20000))
    md += ["", "cProfile of `evaluate` over parsed records (top functions by own time):", "", "```",
           *prof.get("rows", [prof.get("error", "")]), "```", ""]

    # -- cost against records and pack size
    md += ["## How cost grows", "", "Against records: `evaluate()` over JSON Lines read lazily (decode included), "
           "anchor pack.", "", "| records | seconds | µs/record | peak RSS MB |", "|---|---|---|---|"]
    for n in ([1000, 10_000, 100_000] if q else [1000, 10_000, 100_000, 1_000_000]):
        r = child("stream", str(ANCHOR_PACK), data_file(n))
        md.append(f"| {n:,} | {r['seconds']:.2f} | {1e6 * r['seconds'] / n:.1f} | {r['peak_mb']} |"
                  if "seconds" in r else f"| {n:,} | {r} | | |")
    tmp = Path(tempfile.mkdtemp(prefix="rulecite-bench-"))
    small = data_file(10_000)
    md += ["", "Against pack size: the anchor pack with every rule copied k-1 times, each copy bound to codes no "
           "record has (10,000 parsed records). A line pays only for the rules indexed under its code.", "",
           "| rules | rec/s | µs/record |", "|---|---|---|"]
    for k in (1, 4, 16):
        pk = pack_copies(k, tmp)
        r = child("parsed", pk, small, 3)
        md.append(f"| {9 * k} | {r['n'] / r['median']:,.0f} | {1e6 * r['median'] / r['n']:.1f} |"
                  if "median" in r else f"| {9 * k} | {r} | |")
    md.append("")

    # -- the CMS pack
    cms_n = 10_000 if q else 100_000
    md += ["## The CMS pack on `rulecite synth` records", ""]
    try:
        spath = synth_file(cms_n)
        r = child("parsed", "cms-care-management", spath, 3)
        if "median" in r:
            rate = r["n"] / r["median"]
            md += [f"{rate:,.0f} patient-months per second on one core ({1e6 / rate:.1f} µs each) on {cms_n:,} "
                   f"parsed records; the goal is 100,000/s: {rate / 100_000:.2f} of it.", ""]
            glance.append(("CMS pack, parsed synth records, one core", "goal 100,000/s", f"{rate:,.0f}/s",
                           rate >= 100_000))
        else:
            md += [f"not measured: {r.get('error')}", ""]
        prof = child("profile", "cms-care-management", spath, min(cms_n, 10_000))
        md += ["cProfile (top functions by own time):", "", "```", *prof.get("rows", [prof.get("error", "")]), "```", ""]
    except subprocess.CalledProcessError as e:
        md += [f"not measured: `rulecite synth` failed ({e})", ""]
        spath = None

    # -- end to end
    md += ["## `rulecite eval` end to end (JSON Lines in, JSON Lines out)", "",
           "| pack, records | mode | seconds | rec/s | peak RSS MB (main process) |", "|---|---|---|---|---|"]
    e2e = {}
    rss = {}
    sizes = sorted({100_000, e2e_big})
    cases = [("anchor", str(ANCHOR_PACK), data_file(n)) for n in sizes]
    if spath is not None:
        cases.append(("cms", "cms-care-management", spath))
    rulecite = str(Path(sys.executable).parent / "rulecite")
    for label, pk, f in cases:
        n = sum(1 for _ in open(f, "rb"))
        for mode, extra in (("1 process", []), ("--jobs 2", ["--jobs", "2"])):
            if label == "anchor" and n < e2e_big and extra:
                continue  # --jobs 2 at the largest size only
            with open(os.devnull, "wb") as devnull:
                t0 = time.perf_counter()
                p = subprocess.Popen([rulecite, "eval", pk, str(f), "--quiet", *extra], stdout=devnull)
                _, status, ru = os.wait4(p.pid, 0)
                dt = time.perf_counter() - t0
            e2e[(label, n, mode)] = n / dt
            rss[(label, n, mode)] = ru.ru_maxrss / 1024
            md.append(f"| {label}, {n:,} | {mode} | {dt:.1f} | {n / dt:,.0f} | {ru.ru_maxrss / 1024:.0f} |"
                      + ("" if status == 0 else f" exit {status}"))
            log(label, n, mode, f"{n / dt:,.0f} rec/s")
    sp = [e2e[(lb, n, "--jobs 2")] / e2e[(lb, n, "1 process")] for (lb, n, m) in e2e if m == "--jobs 2"]
    md += ["", "Speed-up with --jobs 2: " + ", ".join(f"{x:.2f}×" for x in sp) + " (goal 1.7×).", ""]
    if sp:
        glance.append(("`eval --jobs 2` speed-up", "goal ≥ 1.7×", ", ".join(f"{x:.2f}×" for x in sp),
                       min(sp) >= 1.7))
    lo, hi = rss.get(("anchor", 100_000, "1 process")), rss.get(("anchor", e2e_big, "1 process"))
    if lo and hi and e2e_big > 100_000:
        md += [f"Peak RSS, anchor, 1 process: {hi:.0f} MB at {e2e_big:,} records, {lo:.0f} MB at 100,000: "
               f"{hi / lo:.2f}× (target: within 1.5× and under 300 MB).", ""]
        glance.append((f"Peak RSS at {e2e_big:,} records vs 100,000", "≤ 1.5× and < 300 MB",
                       f"{hi / lo:.2f}×, {hi:.0f} MB", hi / lo <= 1.5 and hi < 300))

    # -- load time
    md += ["## Loading a pack", "",
           "Fresh process each: import, then parse + check from source or a read of the checked-pack cache "
           "(`policy_lang/cache.py`, keyed by the pack's files and Rulecite's version; filled by a first load), "
           "then compile. Target: load (parse + check + compile) under 0.3 s.", "",
           "| pack | rules | from | import s | parse+check (or cache read) s | compile s | load s |",
           "|---|---|---|---|---|---|---|"]
    cache_tmp = tempfile.mkdtemp(prefix="rulecite-bench-cache-")
    loads: dict = {}
    os.environ["RULECITE_CACHE_DIR"] = cache_tmp
    try:
        for pk in (str(ANCHOR_PACK), str(ROOT / "tests" / "packs" / "library"), "cms-care-management"):
            from rulecite.policy_lang.cache import load_cached

            load_cached(pk)  # fill the cache
            for mode in ("source", "cache"):
                r = child("load", pk, mode)
                if "rules" in r:
                    loads[(Path(pk).name, mode)] = r
                md.append(f"| {Path(pk).name} | {r.get('rules')} | {mode} | {r.get('import', 0):.2f} | "
                          f"{r.get('parse_check', 0):.3f} | {r.get('compile', 0):.3f} | "
                          f"{r.get('parse_check', 0) + r.get('compile', 0):.3f} |"
                          if "rules" in r else f"| {pk} | {r} | | | | | |")
    finally:
        shutil.rmtree(cache_tmp, ignore_errors=True)
        os.environ.pop("RULECITE_CACHE_DIR", None)
    for name, mode in (("cms-care-management", "source"), ("cms-care-management", "cache")):
        r = loads.get((name, mode))
        if r and "parse_check" in r and "compile" in r:
            t = r["parse_check"] + r["compile"]
            glance.append((f"Load the CMS pack from {'the checked-pack cache' if mode == 'cache' else 'source'}",
                           "< 0.3 s (or a cache that gets there)", f"{t:.3f} s", t < 0.3))
    md[summary_at:summary_at] = (
        ["## Targets at a glance", "", "| target | wanted | measured | met |", "|---|---|---|---|"]
        + [f"| {a} | {b} | {c} | {'yes' if ok else '**no**'} |" for a, b, c, ok in glance] + [""])
    md += ["", *notes, f"- The whole run took {(time.time() - started) / 60:.1f} minutes.", ""]
    Path(args.out).write_text("\n".join(md))
    log("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
