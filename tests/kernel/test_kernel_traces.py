"""casestudies/kernel_traces.py, small: one boot, two short real workloads (about 60 s of guest
time).  The traces of forced_migration.rmt from rmt.ko's can_migrate_task hook must arrive
in the sim target's JSON-lines format, decode with learn/features.py, account for every
soft call the hook saw, and (with the sim-trained weights loaded) carry model outputs equal
to the host's fixed-point emulation on the traced features."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rmt.qemu import harness

ROOT = Path(__file__).resolve().parents[2]

from rmt.casestudies import kernel_traces

WORKLOADS = ["switch", "make_j4"]
SECONDS = 12
SLACK = 5         # calls between a counter read and a drain (~30 calls/s under TCG)


@pytest.fixture(scope="module")
def collected(qemu_env: harness.HarnessEnv, rmt_ko: Path,
              tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("ktraces")
    r = kernel_traces.collect(out, rmt_ko, WORKLOADS, SECONDS, timeout=150, harness_env=qemu_env)
    return {"r": r, "out": out}


def test_guest_clean(collected: dict) -> None:
    r = collected["r"]
    if not (collected["out"] / "guest.json").exists():
        pytest.fail(f"guest did not finish:\n{r.output[-3000:]}\n{r.console[-2000:]}")
    r.check()


def _records(out: Path, wl: str) -> list[dict]:
    return [json.loads(ln) for ln in (out / "traces" / f"{wl}.jsonl").read_text().splitlines()]


def test_traces_in_sim_format_and_decode(collected: dict) -> None:
    from rmt.compiler import compile_source
    from rmt.learn import features
    out = collected["out"]
    prog = compile_source(kernel_traces.EXAMPLE.read_text(), "forced_migration.rmt")
    names = {f.name for f in prog.traces[0].fields}
    total = 0
    for wl in WORKLOADS:
        recs = _records(out, wl)
        total += len(recs)
        for r in recs:
            assert set(r) == {"prog", "fmt", "cpu", "ts", "fields"}, r
            assert r["prog"] == "forced_migration" and r["fmt"] == prog.traces[0].name
            assert r["cpu"] in (0, 1) and r["ts"] > 0
            assert set(r["fields"]) == names
        ds = features.from_records(recs)
        assert len(ds) == len(recs)
        assert set(np.unique(ds.verdict)) <= {0, 1}
        assert np.all(np.abs(ds.x) <= features.FEAT_MAX)
        # one-hot idle type: exactly one of x[2..4] per call
        assert np.all(ds.x[:, 2:5].sum(1) == features.FIX)
        print(f"\n{wl}: {len(ds)} records, {ds.verdict.sum()} allowed, {ds.forced.sum()} forced")
    assert total > 0


def test_every_soft_call_traced(collected: dict) -> None:
    """The program traces each call that reaches its table (not hard-vetoed): per workload,
    records + ring drops == hook runs - hard vetoes (no aborts: weights are loaded), up to the
    few calls that can land between the counter reads and the drains around a workload
    (the collector reads the counters before its last drain, so none can be missing)."""
    out = collected["out"]
    for wl in WORKLOADS:
        st = json.loads((out / "stats" / f"{wl}.json").read_text())
        a, b = st["after"], st["before"]
        ha, hb = a["hook"], b["hook"]
        runs = ha["runs"] - hb["runs"]
        soft = runs - (ha["hard_veto"] - hb["hard_veto"])
        assert ha["ctx_errors"] == hb["ctx_errors"]
        assert sum(a["aborts"].values()) == sum(b["aborts"].values())
        extra = st["records"] + a["trace_drops"] - b["trace_drops"] - soft
        assert 0 <= extra <= SLACK, (wl, st["records"], soft)
        # every hook run ran the program: the two counters are read by separate ioctls, so a
        # call can land between the reads of one snapshot (either way between two snapshots)
        assert abs(a["runs"] - b["runs"] - runs) <= SLACK, (wl, a["runs"] - b["runs"], runs)


def test_traced_outputs_match_host_emulation(collected: dict) -> None:
    from rmt.compiler import compile_source
    from rmt.learn import features, quantize
    from rmt.contract import weights as W
    out = collected["out"]
    prog = compile_source(kernel_traces.EXAMPLE.read_text(), "forced_migration.rmt")
    mm, tm = prog.models
    mw = W.read_weights((out / "files" / "predictor.bin").read_bytes(), mm)
    tw = W.read_weights((out / "files" / "tree_predictor.bin").read_bytes(), tm)
    ds = features.Dataset.concat([features.from_records(_records(out, w)) for w in WORKLOADS])
    if not len(ds):
        pytest.fail("no records")
    ym, _ = quantize.emulate_mlp(mw, ds.x, mm.in_lo, mm.in_hi)
    assert np.array_equal(ym, ds.outputs[:, :2])
    assert np.array_equal(quantize.emulate_tree(tw, ds.x), ds.outputs[:, 2:])
