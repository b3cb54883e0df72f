"""casestudies/kernel_traces.py, small: one boot of a 2-node guest (2 nodes x 2 cores x 2
threads, the harness's Topology), two short real workloads, one of them NUMA-bound (about
2-3 min under TCG).  The guest must see SMT, MC and NUMA levels.  The traces of forced_migration.rmt from rmt.ko's can_migrate_task hook must arrive
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

WORKLOADS = ["switch", "numa_cross"]
SECONDS = 12
TOPOLOGY = harness.Topology.parse("2x2x2")


@pytest.fixture(scope="module")
def collected(qemu_env: harness.HarnessEnv, rmt_ko: Path,
              tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("ktraces")
    r = kernel_traces.collect(out, rmt_ko, WORKLOADS, SECONDS, timeout=300, harness_env=qemu_env,
                              topology=TOPOLOGY)
    return {"r": r, "out": out}


def test_guest_clean(collected: dict) -> None:
    r = collected["r"]
    if not (collected["out"] / "guest.json").exists():
        pytest.fail(f"guest did not finish:\n{r.output[-3000:]}\n{r.console[-2000:]}")
    r.check()


def test_guest_sees_smt_mc_numa(collected: dict) -> None:
    """The harness's topology reaches the guest kernel: two nodes with the SLIT distance,
    SMT siblings, sched domains SMT/MC/NUMA with 6.1's cache_nice_tries, NUMA balancing on,
    and numactl (installed by tools/qemu/setup.sh) in the chroot."""
    g = json.loads((collected["out"] / "guest.json").read_text())
    topo = g["topology"]
    assert topo["ncpu"] == TOPOLOGY.cpus
    assert topo["nodes"] == {"node0": "0-3", "node1": "4-7"}
    assert topo["distance"] == {"node0": "10 20", "node1": "20 10"}
    assert topo["smt_siblings_cpu0"] == "0-1"
    assert [(d["name"], d["cache_nice_tries"]) for d in topo["sched_domains_cpu0"]] == \
        [("SMT", 0), ("MC", 1), ("NUMA", 2)]
    assert topo["numa_balancing"] == "1" or topo.get("numa_balancing_set") == "1"
    assert topo["numactl"]


def test_records_cover_the_levels(collected: dict) -> None:
    """With SMT and NUMA levels the traced features that were always 0 on one node
    (smt_domain, has_numa_faults) take both values."""
    from rmt.learn import features
    ds = features.Dataset.concat([features.from_records(_records(collected["out"], w))
                                  for w in WORKLOADS])
    assert len(ds) > 0
    assert set(np.unique(ds.x[:, 15])) == {0, features.FIX}     # smt_domain
    assert features.FIX in set(np.unique(ds.x[:, 16]))           # has_numa_faults
    assert features.FIX in set(np.unique(ds.x[:, 5])) and 0 in set(np.unique(ds.x[:, 5]))


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
            assert 0 <= r["cpu"] < TOPOLOGY.cpus and r["ts"] > 0
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
    """The program traces each call that reaches its table (not hard-vetoed): per run,
    soft(before -> after) <= records + ring drops <= soft(previous after -> drained), bounds
    that hold by construction of the collector's reads (casestudies/kernel_traces.py
    run_workload), however many calls land between two reads on a loaded host; no run
    aborts (weights are loaded) and no context is refused."""
    out = collected["out"]

    def soft(a: dict, b: dict) -> int:
        ha, hb = a["hook"], b["hook"]
        return (ha["runs"] - hb["runs"]) - (ha["hard_veto"] - hb["hard_veto"])
    for wl in WORKLOADS:
        st = json.loads((out / "stats" / f"{wl}.json").read_text())
        assert sum(r["new"] for r in st["runs"]) == st["records"]
        for run in st["runs"]:
            a, b, d, p = run["after"], run["before"], run["drained"], run["previous_after"]
            assert d["hook"]["ctx_errors"] == p["hook"]["ctx_errors"]
            assert sum(d["aborts"].values()) == sum(p["aborts"].values())
            got = run["new"] + d["trace_drops"] - p["trace_drops"]
            assert soft(a, b) <= got <= soft(d, p), (wl, run["new"], soft(a, b), soft(d, p))


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
