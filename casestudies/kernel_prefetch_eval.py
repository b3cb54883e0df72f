#!/usr/bin/env python3
"""Case study 2 in the real kernel: swap prefetchers on real programs in Debian's 6.1 guest.

    make kernel-prefetch-eval                         # the full plan (hours under TCG)
    .venv/bin/rmt-kernel-prefetch-eval --only strided seq --fracs 0.5 --rounds 3

One QEMU boot (tools/qemu/harness.py): rmt.ko loaded, swap on a virtio-blk disk behind
dm-delay (--delay-ms), every workload in a cgroup v2 whose memory.max is a fraction of its
working set (its anonymous peak times the fraction, plus its page-cache peak, both measured
unconstrained first in the same boot), under each
prefetcher:
  readahead   no program, vm.page-cluster 3 (Linux's default readahead)
  off         no program, vm.page-cluster 0 (readahead off): the reference
  leap        examples/leap_prefetch.rmt, page-cluster 0 (when that example exists)
  rmt         examples/swap_prefetch.rmt, page-cluster 0, its tree trained on the traces as
              casestudies/prefetch_eval.py trains it, routed to the learned action for the cgroup
The programs act through rmt.ko's exact-page prefetch (swap_prefetch=auto: do_madvise).
Runs are interleaved: every round runs every (workload, fraction, prefetcher) once, the
prefetchers in a rotated order. Per run: major faults (rusage), pswpin, swap_ra(_hit), and
the kernel's prefetch counters (pages asked for, dropped at a full queue, read, later hit);
run time. Writes results.json and
table.md to --out and prints the table: medians over rounds, run time relative to `off` of
the same round (median, min..max).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rmt.contract import project

from rmt.casestudies.workloads import WORKLOADS

ROOT = project.guess()          # the source checkout (rmt.contract.project)

GUEST = Path(__file__).with_name("kernel_prefetch_guest.py")
PY = Path(sys.executable)      # the guest sees the host's root: the same interpreter runs there
PREFETCHERS = ["readahead", "off", "leap", "rmt"]
SYNTH_MB = {"seq": 16, "strided": 16}


def train_tree(min_stable: int, depth: int, min_freq: float) -> bytes:
    """The tree of casestudies/prefetch_eval.py: every workload's training-part faults."""
    from rmt.learn.swap_tree import train
    from rmt.swap_sim.experiment import Split, training_faults
    from rmt.swap_sim.trace import load_dir, synthetic_traces
    split = Split(0.5, 0.6)
    traces = synthetic_traces() + load_dir(ROOT / "traces")
    streams = [training_faults(t, split) for t in traces]
    return train(streams, max_depth=depth, min_freq=min_freq, log=lambda s: None).blob()


def compile_example(name: str) -> bytes | None:
    from rmt.compiler import compile_source
    from rmt.contract import objfile
    src = ROOT / "examples" / name
    if not src.exists():
        return None
    return objfile.write(compile_source(src.read_text(), name))


def workloads(only: list[str] | None, files: Path) -> dict[str, dict]:
    """name -> {argv, cwd}; inputs of the real programs made here, natively, as
    tools/swap_traces/capture.py makes them (rmt.casestudies.workloads)."""
    out: dict[str, dict] = {}
    for kind, mb in SYNTH_MB.items():
        name = kind
        if only and name not in only:
            continue
        out[name] = {"argv": [str(PY), str(files / "synth.py"),
                              "strided" if kind == "strided" else "seq", str(mb), "1"],
                     "cwd": "/tmp"}
    for w in WORKLOADS:
        if only and w.name not in only:
            continue
        d = files / "work" / w.name
        d.mkdir(parents=True, exist_ok=True)
        w.prepare(d)
        argv = w.argv(d)
        if argv[0] == sys.executable:
            argv[0] = str(PY)
        out[w.name] = {"argv": argv, "cwd": str(d)}
    return out


def plan(names: dict[str, dict], fracs: list[float], rounds: int, have: dict[str, bool],
         seed: int = 1) -> list[dict]:
    pfs = [p for p in PREFETCHERS if have.get(p, True)]
    rng = random.Random(seed)
    steps = []
    for r in range(rounds):
        for w, spec in names.items():
            for f in fracs:
                order = pfs[r % len(pfs):] + pfs[:r % len(pfs)]
                rng.shuffle(order) if r >= len(pfs) else None
                for p in order:
                    steps.append({"round": r, "workload": w, "frac": f, "prefetcher": p,
                                  "page_cluster": 3 if p == "readahead" else 0, **spec})
    return steps


def _seconds(row: dict) -> str:
    """Median run time; runs killed at their time limit make it (and the ratio) a lower bound."""
    if not row["killed"]:
        return f"{row['seconds']:.1f}"
    return f">= {row['seconds']:.1f} ({row['killed']} of {row['rounds']} killed at the limit)"


def summarise(runs: list[dict]) -> tuple[list[dict], str]:
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["workload"], r["frac"], r["prefetcher"]), []).append(r)
    off_s = {(r["workload"], r["frac"], r["round"]): r["result"]["seconds"]
             for r in runs if r["prefetcher"] == "off"}
    rows = []
    for (w, f, p), rs in groups.items():
        rel = [r["result"]["seconds"] / off_s[(w, f, r["round"])] for r in rs
               if off_s.get((w, f, r["round"]))]
        pf = [r.get("prefetch") or {} for r in rs]
        rows.append({
            "workload": w, "frac": f, "prefetcher": p, "rounds": len(rs),
            "ws_mb": round(rs[0]["ws_bytes"] / 2**20, 1),
            "anon_mb": round(rs[0].get("ws_anon", 0) / 2**20, 1),
            "file_mb": round(rs[0].get("ws_file", 0) / 2**20, 1),
            "majflt": statistics.median(r["result"]["majflt"] for r in rs),
            "pswpin": statistics.median(r["result"]["vmstat"]["pswpin"] for r in rs),
            "swap_ra_hit": statistics.median(r["result"]["vmstat"]["swap_ra_hit"] for r in rs),
            "pf_read": statistics.median(x.get("read", 0) for x in pf),
            "pf_hits": statistics.median(x.get("hits", 0) for x in pf),
            "pf_requested": statistics.median(x.get("requested", 0) for x in pf),
            "pf_dropped": statistics.median(x.get("dropped", 0) for x in pf),
            "pf_merged": statistics.median(x.get("merged", 0) for x in pf),
            "seconds": statistics.median(r["result"]["seconds"] for r in rs),
            "rel_median": round(statistics.median(rel), 3) if rel else None,
            "rel_min": round(min(rel), 3) if rel else None,
            "rel_max": round(max(rel), 3) if rel else None,
            "status": sorted({r["result"]["status"] for r in rs}),
            "killed": sum(bool(r["result"].get("timed_out")) for r in rs),
        })
    order = {p: i for i, p in enumerate(PREFETCHERS)}
    rows.sort(key=lambda x: (x["workload"], x["frac"], order[x["prefetcher"]]))
    head = ("| workload | mem | prefetcher | major faults | pswpin | prefetched (read) | "
            "used (hits) | asked / dropped (pages) | readahead hits | run s | "
            "vs off (median, min..max) |")
    lines = [head, "|" + "---|" * 11]
    for x in rows:
        rel = (f"{x['rel_median']:.3f} ({x['rel_min']:.3f}..{x['rel_max']:.3f})"
               if x["rel_median"] is not None else "-")
        lines.append(f"| {x['workload']} | {int(x['frac'] * 100)}% of {x['anon_mb']} MB anon "
                     f"+ {x['file_mb']} MB file | "
                     f"{x['prefetcher']} | {x['majflt']:.0f} | {x['pswpin']:.0f} | "
                     f"{x['pf_read']:.0f} | {x['pf_hits']:.0f} | "
                     f"{x['pf_requested']:.0f} / {x['pf_dropped']:.0f} | {x['swap_ra_hit']:.0f} | "
                     f"{_seconds(x)} | {rel} |")
    return rows, "\n".join(lines)


def plots(rows: list[dict], out: Path) -> list[Path]:
    """Per memory fraction: each prefetcher's median run time and major faults relative to
    `off` of the same workload (bars; the table has the ranges)."""
    from rmt.learn.plots import grouped_bars
    made = []
    for frac in sorted({x["frac"] for x in rows}):
        at = [x for x in rows if x["frac"] == frac]
        workloads = list(dict.fromkeys(x["workload"] for x in at))
        by = {(x["workload"], x["prefetcher"]): x for x in at}
        pfs = [p for p in PREFETCHERS if p != "off" and any(x["prefetcher"] == p for x in at)]
        pct = int(frac * 100)

        def rel(w: str, p: str, key: str) -> float:
            x, off = by.get((w, p)), by.get((w, "off"))
            if key == "rel_median":
                return x["rel_median"] if x and x["rel_median"] is not None else float("nan")
            return x[key] / off[key] if x and off and off[key] else float("nan")
        made.append(grouped_bars(
            workloads, {p: [rel(w, p, "rel_median") for w in workloads] for p in pfs},
            out / f"kernel_prefetch_runtime_{pct}.png",
            f"rmt.ko, {pct}% memory: run time relative to readahead off (median of rounds)",
            "run time / off", (0, 2.0)))
        made.append(grouped_bars(
            workloads, {p: [rel(w, p, "majflt") for w in workloads] for p in pfs},
            out / f"kernel_prefetch_majflt_{pct}.png",
            f"rmt.ko, {pct}% memory: major faults relative to readahead off (median of rounds)",
            "major faults / off", (0, 1.6)))
    return made


def from_json(path: Path, out: Path) -> int:
    """The table and the plots again from a run's results.json (no boot)."""
    try:
        runs = json.loads(path.read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"kernel_prefetch_eval.py: error: {path}: not a results.json of this tool ({e})",
              file=sys.stderr)
        return 2
    rows, text = summarise(runs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(text + "\n")
    print(text)
    for f in plots(rows, out):
        print(f"plot: {f}")
    return 0


@project.cli
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="workloads (default: all: "
                    + ", ".join(list(SYNTH_MB) + [w.name for w in WORKLOADS]) + ")")
    ap.add_argument("--fracs", nargs="*", type=float, default=[0.25, 0.5, 0.75])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--delay-ms", type=int, default=1, help="dm-delay on the swap disk")
    ap.add_argument("--min-stable", type=int, default=20)
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--min-freq", type=float, default=0.5)
    ap.add_argument("--memory-mb", type=int, default=1024, help="guest RAM")
    ap.add_argument("--timeout", type=float, default=6 * 3600, help="guest wall time, s")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "kernel_prefetch")
    ap.add_argument("--dry-run", action="store_true",
                    help="make the inputs, the tree and the plan; do not boot")
    ap.add_argument("--from-json", type=Path, metavar="RESULTS",
                    help="no boot: the table and plots of an earlier run's results.json, "
                         "into --out")
    args = ap.parse_args(argv)
    if args.from_json:
        return from_json(args.from_json, args.out)
    if args.rounds < 1 or not args.fracs or not all(0 < f <= 1 for f in args.fracs):
        ap.error("--rounds >= 1 and --fracs in (0, 1]")
    from rmt.qemu import harness
    try:
        henv = harness.HarnessEnv.load()
    except harness.HarnessNotReady as e:
        print(f"kernel_prefetch_eval.py: error: {e}", file=sys.stderr)
        return 2
    t0 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    share = Path(tempfile.mkdtemp(prefix="kpf-", dir=args.out))
    files = share / "files"
    files.mkdir(parents=True)
    from rmt.casestudies.kernel_prefetch_guest import SYNTH
    (files / "synth.py").write_text(SYNTH)
    names = workloads(args.only, files)
    if not names:
        ap.error(f"no workload among {args.only}")
    rmt, leap = compile_example("swap_prefetch.rmt"), compile_example("leap_prefetch.rmt")
    (files / "swap_prefetch.rmtb").write_bytes(rmt)
    (files / "next.bin").write_bytes(train_tree(args.min_stable, args.depth, args.min_freq))
    if leap is not None:
        (files / "leap_prefetch.rmtb").write_bytes(leap)
    print(f"inputs and tree ready ({time.time() - t0:.0f} s); leap program: "
          f"{'yes' if leap else 'no (examples/leap_prefetch.rmt absent)'}", flush=True)
    configs = {"rmt": {"program": "swap_prefetch.rmtb", "models": {"next": "next.bin"},
                       "route": ["policy", "action", "learned", "16", "1",
                                 str(args.min_stable)]}}
    if leap is not None:
        configs["leap"] = {"program": "leap_prefetch.rmtb"}
    steps = plan(names, args.fracs, args.rounds, {"leap": leap is not None})
    (files / "plan.json").write_text(json.dumps({"delay_ms": args.delay_ms, "steps": steps,
                                                 "configs": configs,
                                                 "workloads": names}, indent=1))
    print(f"{len(steps)} runs in one boot; progress: {share}/eval_progress.jsonl", flush=True)
    if args.dry_run:
        return 0
    ko = harness.build_rmt_ko(share / "kbuild", harness_env=henv)
    r = harness.run_in_guest(
        f"""
        insmod {ko} swap_prefetch=auto || exit 3
        {PY} {GUEST} {files} "$RMT_OUT" eval
        rc=$?
        rmmod rmt || exit 4
        exit $rc
        """, timeout=args.timeout, memory_mb=args.memory_mb, out_dir=share, cwd=ROOT,
        harness_env=henv, disk_mb=1024)
    progress = share / "eval_progress.jsonl"
    runs = [json.loads(x) for x in progress.read_text().splitlines()] if progress.exists() \
        else []
    res_file = share / "eval.json"
    guest_res = json.loads(res_file.read_text()) if res_file.exists() else {}
    if "error" in guest_res:
        print(f"guest error: {guest_res['error']}\n{guest_res.get('trace', '')}",
              file=sys.stderr)
    problems = r.kernel_problems()
    rows, text = summarise(runs) if runs else ([], "(no runs)")
    print(text)
    (args.out / "table.md").write_text(text + "\n")
    for f in plots(rows, args.out) if rows else []:
        print(f"plot: {f}")
    (args.out / "results.json").write_text(json.dumps({
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "kernel": henv.kernel_release, "planned": len(steps), "done": len(runs),
        "guest_exit": r.exit_status, "kernel_problems": problems,
        "working_sets": guest_res.get("working_sets"), "rows": rows, "runs": runs},
        indent=1))
    print(f"{len(runs)}/{len(steps)} runs, guest exit {r.exit_status}, kernel problems "
          f"{len(problems)}, {time.time() - t0:.0f} s; {args.out}/results.json")
    return 0 if r.exit_status == 0 and not problems and len(runs) == len(steps) else 1


if __name__ == "__main__":
    sys.exit(main())
