"""One rmtctl session, the same commands on any target (`--target kernel` or `--target sim`).

tests/kernel/test_kmod_abi.py runs `run_session()` inside the QEMU guest against rmt.ko and on
the host against the sim target (reference engine), then compares the two transcripts: a user
switches targets with one flag and sees the same results.  Each command goes through
`rmtctl.cli.main()` in this process (the guest pays Python's start-up once, not per command);
one real `rmtctl` process run is made by the guest script as well.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmt.ctl import cli

# prog run inputs: `now` values far from any real ktime, so records emitted by these runs can be
# told apart from records of hooks firing in the kernel.
FM_CTX = {"idle": 1, "sd_level": 0, "src_nr_running": 3, "dst_nr_running": 1,
          "nr_balance_failed": 2, "cache_nice_tries": 1, "exec_age_ns": 400000,
          "migration_cost_ns": 500000, "kernel_verdict": 1, "task_hot": 1, "src_load": 2048,
          "dst_load": 1024, "cpu": 0, "now": 1001}
SP_CTX = {"pid": 42, "hist_len": 4, "cgroup_id": 7, "addr": 0x7F0000001000, "page": 0x7F0000001,
          "hist": [1, 1, 2, 1], "ra_hits": 3, "prev_window": 4, "cpu": 0, "now": 2002}
RUN_TS = {1001, 2002}


@dataclass
class Step:
    argv: list[str]
    rc: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Transcript:
    target: list[str]
    steps: list[Step] = field(default_factory=list)

    def __call__(self, *argv: object, expect: int | None = 0) -> Step:
        args = [str(a) for a in argv]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main([*self.target, *args])
            except SystemExit as e:          # argparse usage errors
                rc = int(e.code or 0)
        step = Step(args, rc, out.getvalue(), err.getvalue())
        self.steps.append(step)
        if expect is not None and rc != expect:
            raise RuntimeError(f"rmtctl {' '.join(args)}: exit {rc}, expected {expect}\n"
                               f"{step.err}{step.out}")
        return step


def run_session(target: list[str], files: Path, out: Path) -> dict[str, Any]:
    """The whole session; `files` holds the objects, weights and contexts, results go to `out`.

    Returns the parsed results keyed by what they are (ids, dumps, runs, stats, trace file)."""
    t = Transcript(target)
    res: dict[str, Any] = {}
    fm = int(t("insert", files / "forced_migration.rmtb").out.strip())
    sp = int(t("insert", files / "swap_prefetch.rmtb").out.strip())
    res["ids"] = [fm, sp]
    res["inserted_notes"] = [s.err for s in t.steps]
    res["list"] = t("--json", "list").json()
    res["show_fm"] = t("--json", "show", fm).json()
    t("table", "add", fm, "policy", 2, "0..1000", "action", "allow")
    t("table", "add", fm, "policy", 0, "5..9", "action", "deny", "priority", 3)
    t("table", "add", fm, "policy", 1, "0..1023", "action", "predict", 2, -5)
    t("table", "mod", fm, "policy", 1, "0..1023", "action", "predict", 1, 0)
    t("table", "add", sp, "policy", 7, "action", "learned", 8, 1, 0)
    t("table", "add", sp, "policy", 9, "action", "off")
    t("table", "del", sp, "policy", 9)
    # refused updates: exit 1 and nothing changes
    res["dup_insert"] = t("table", "add", sp, "policy", 7, "action", "off", expect=1).err
    res["del_missing"] = t("table", "del", sp, "policy", 99, expect=1).err
    res["bad_weights"] = t("model", "load", fm, "predictor", files / "next.bin", expect=1).err
    res["dump_fm"] = t("--json", "table", "dump", fm, "policy").json()
    res["dump_sp"] = t("--json", "table", "dump", sp, "policy").json()
    res["model_versions"] = [
        t("--json", "model", "load", fm, "predictor", files / "pred.bin").json()["version"],
        t("--json", "model", "load", fm, "tree_predictor", files / "tree_fm.bin").json()["version"],
        t("--json", "model", "load", sp, "next", files / "next.bin").json()["version"],
        t("--json", "model", "load", fm, "predictor", files / "pred.bin").json()["version"],
    ]
    res["models_fm"] = t("--json", "model", "show", fm).json()
    (out / "ctx_fm.json").write_text(json.dumps(FM_CTX))
    (out / "ctx_sp.json").write_text(json.dumps(SP_CTX))
    res["run_fm"] = t("--json", "prog", "run", fm, "--ctx", out / "ctx_fm.json",
                      "--repeat", 3).json()
    res["run_sp"] = t("--json", "prog", "run", sp, "--ctx", out / "ctx_sp.json").json()
    res["map_fm"] = t("--json", "map", "dump", fm, "predicted").json()
    # swap_prefetch's successor map is keyed by page: private, never read out (EPERM)
    res["private_dump"] = t("map", "dump", sp, "succ", expect=1).err
    res["stats_fm"] = t("--json", "stats", fm).json()
    res["stats_sp"] = t("--json", "stats", sp).json()
    # a batch with one refused line (a duplicate) changes nothing: on the kernel, one
    # RMT_IOC_TABLE_BATCH for the table; then a good batch applies every line in order
    bad = out / "bad.batch"
    bad.write_text(f"table add {sp} policy 11 action off\n"
                   f"table mod {sp} policy 7 action off\n"
                   f"table add {sp} policy 7 action off\n")
    res["batch_bad"] = t("batch", bad, expect=1).err
    res["dump_after_bad_batch"] = t("--json", "table", "dump", sp, "policy").json()
    good = out / "good.batch"
    good.write_text(f"table add {sp} policy 11 action off\n"
                    f"table del {sp} policy 11\n"
                    f"table add {sp} policy 12 action off\n"
                    f"table mod {sp} policy 12 action learned 1 2 3\n")
    t("batch", good)
    res["dump_after_good_batch"] = t("--json", "table", "dump", sp, "policy").json()
    t("table", "del", sp, "policy", 12)
    # a trace drain whose sink fails loses no record: -o names a directory (EISDIR at open)
    # and /dev/full (ENOSPC at write); the records stay for the drain below
    res["trace_to_dir"] = t("trace", fm, "-o", out, expect=1).err
    if Path("/dev/full").is_char_device():
        res["trace_to_full"] = t("trace", fm, "-o", "/dev/full", expect=1).err
    trace = out / "trace.jsonl"
    trace.unlink(missing_ok=True)
    t("trace", fm, "-o", trace)
    t("trace", sp, "-o", trace)
    res["trace_file"] = str(trace)
    res["transcript"] = [s.__dict__ for s in t.steps]
    return res


def snapshot(target: list[str], ids: list[int]) -> dict[str, Any]:
    """What the storm must not change: programs, entries (without hit counts), model versions."""
    t = Transcript(target)
    snap: dict[str, Any] = {"list": [{k: v for k, v in p.items()} for p in
                                     t("--json", "list").json()]}
    for i in ids:
        snap[f"entries_{i}"] = [{k: v for k, v in e.items() if k != "hits"}
                                for e in t("--json", "table", "dump", i, "policy").json()]
        snap[f"models_{i}"] = [{k: m.get(k) for k in ("id", "version", "bytes")}
                               for m in t("--json", "model", "show", i).json()]
    return snap


if __name__ == "__main__":
    target, files, out = json.loads(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    print(json.dumps(run_session(target, files, out)))
