"""Guest side of tests/kernel/test_kmod_model_isa.py: rmt.model_isa (kmod/rmt_kmod_model_isa.c).

    python guest_model_isa.py FILES OUT

rmt.ko was loaded with model_isa=scalar.  Writes OUT/model_isa.json:
- params: model_isa and model_isa_stats as loaded;
- bad: a bad value written to model_isa: the errno, the value kept, the kernel log's line;
- runs: per program and weights set, the same contexts run under scalar and under avx2 (when
  this CPU has AVX2): decisions, aborts and trace records (the model's raw outputs) of each,
  and the AVX2 runs and FPU refusals counted in model_isa_stats during each.  A test run
  executes in an IPI on the chosen CPU (hard interrupt context), where irq_fpu_usable()
  refuses when the interrupt hit a softirq-disabled section: such a run takes the scalar
  path and counts in nofpu.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import traceback
from pathlib import Path

from rmt.ctl.kernel import KernelEngine, RmtDevice

PARAMS = Path("/sys/module/rmt/parameters")
N = 200                     # contexts per program and weights set
TRACE_CAP = 1024            # a power of two over N


def stats() -> dict[str, str]:
    return dict(kv.split("=") for kv in (PARAMS / "model_isa_stats").read_text().split())


def set_isa(value: str) -> None:
    (PARAMS / "model_isa").write_text(value + "\n")


def phase_bad() -> dict:
    before = (PARAMS / "model_isa").read_text().strip()
    res: dict = {"before": before}
    for value in ("sse9", "AVX2x", ""):
        try:
            set_isa(value)
            res[value] = {"errno": 0}
        except OSError as e:
            res[value] = {"errno": e.errno}
        res[value]["after"] = (PARAMS / "model_isa").read_text().strip()
    log = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    res["log"] = [ln.split("] ", 1)[-1] for ln in log.splitlines() if "model_isa=" in ln]
    return res


def ctxs(eng: KernelEngine, rng: random.Random) -> list[bytes]:
    from bench_inputs import random_ctxs        # every field inside its declared range
    return random_ctxs(eng.prog, rng, N)


def run_all(eng: KernelEngine, cs: list[bytes]) -> dict:
    s0 = stats()
    eng.trace_drain()
    runs = [eng.run(c, cpu=i % 2, now=1000 + i) for i, c in enumerate(cs)]
    recs = eng.trace_drain()
    s1 = stats()
    return {"results": [[r.decision, r.abort, r.abort_pc] for r in runs],
            "trace": [list(t.values) for t in recs],
            **{k: int(s1[k]) - int(s0[k]) for k in ("avx2_runs", "nofpu")}}


def phase_runs(dev: RmtDevice, files: Path, isas: list[str]) -> dict:
    out: dict = {}
    for spec in json.loads((files / "cases.json").read_text()):
        eng = KernelEngine.load(dev, (files / spec["prog"]).read_bytes(), trace_capacity=TRACE_CAP)
        try:
            for i, wfile in enumerate(spec["models"]):
                eng.model_load(i, (files / wfile).read_bytes())
            cs = ctxs(eng, random.Random(spec["name"]))
            res = {}
            for isa in isas:
                set_isa(isa)
                res[isa] = run_all(eng, cs)
            out[spec["name"]] = res
        finally:
            set_isa("scalar")
            eng.unload()
    return out


def main(files: Path, out: Path) -> int:
    dev = RmtDevice()
    res: dict = {"params": {"model_isa": (PARAMS / "model_isa").read_text().strip(),
                            "stats": stats()}}
    isas = ["scalar", "avx2"] if res["params"]["stats"]["best"] == "avx2" else ["scalar"]
    for name, fn in (("bad", phase_bad), ("runs", lambda: phase_runs(dev, files, isas)),
                     ("auto", lambda: (set_isa("auto"), stats())[1])):
        try:
            res[name] = fn()
        except Exception:                  # noqa: BLE001 - reported to the host test
            res[name] = {"error": traceback.format_exc()[-2000:]}
        (out / "model_isa.json").write_text(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
