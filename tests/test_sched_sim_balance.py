"""load_balance's nr_balance_failed life cycle, determinism, and the hook's
shadow / enforce semantics on a real engine with the example program."""
from __future__ import annotations

from pathlib import Path

import pytest

from rmt.compiler import compile_source
from rmt.contract import objfile
from rmt.learn import features
from rmt.ctl.cli import trace_json
from rmt.sched_sim import workloads
from rmt.sched_sim.balance import load_balance
from rmt.sched_sim.cfs import CPU_NEWLY_IDLE, CPU_NOT_IDLE
from rmt.sched_sim.hook import HOOK, EngineSession, Hook, ctx_fields
from rmt.sched_sim.simulator import Simulator
from rmt.sched_sim.task import Task
from rmt.sched_sim.topology import MC
from rmt.contract import codec
from rmt.contract import weights as W
from rmt.semantics.reference import ReferenceEngine

ROOT = Path(__file__).resolve().parent.parent
NOW = 50_000_000


def machine(cost=500_000) -> Simulator:
    wl = workloads.Workload("t", "cpu_bound", 1, (1, 2, 1), 10, migration_cost_ns=cost)
    return Simulator(wl)


def pile(sim: Simulator, cpu: int, ages: list[int]) -> list[Task]:
    """Queue tasks on cpu (the first one running) with the given exec_start ages."""
    out = []
    for k, age in enumerate(ages):
        t = Task(1000 + 10 * cpu + k, cpu, exec_start_ns=NOW - age, load_avg=1024.0)
        sim.tasks.append(t)
        sim.rqs[cpu].add(t)
        out.append(t)
    sim.rqs[cpu].curr = out[0]
    return out


def test_failures_grow_reset_and_trigger_active_balance():
    sim = machine()
    pile(sim, 1, [0, 10, 10])                  # two queued tasks, both cache-hot
    sd = next(d for d in sim.topo.domains[0] if d.level == MC)
    assert sd.cache_nice_tries == 1
    assert load_balance(sim, 0, sd, CPU_NEWLY_IDLE, NOW) == 0
    assert sd.nr_balance_failed == 0           # newly idle failures are not counted
    for want in (1, 2):
        assert load_balance(sim, 0, sd, CPU_NOT_IDLE, NOW) == 0
        assert sd.nr_balance_failed == want
    # failed (2) > cache_nice_tries (1): the hot tasks go anyway, forced migrations
    # (3 tasks on one CPU, none on the other: an imbalance of 2 tasks)
    assert load_balance(sim, 0, sd, CPU_NOT_IDLE, NOW) == 2
    assert sd.nr_balance_failed == 0
    assert sim.metrics.forced_migrations == 2
    reasons = [c.reason for c in sim.metrics.calls]
    # each failed attempt asked about the running task and the two hot ones
    assert reasons.count("hot") == 6 and reasons.count("running") == 4
    assert reasons.count("forced") == 2


def test_active_balance_after_cache_nice_tries_plus_two():
    sim = machine()
    pile(sim, 1, [0, 10])                      # one running, one hot: 2 vs 0
    sd = next(d for d in sim.topo.domains[0] if d.level == MC)
    sd.nr_balance_failed = 3                   # next failure makes it 4 > 1 + 2
    sim.rqs[1].tasks[0].allowed = frozenset({1})    # the queued one cannot move
    assert load_balance(sim, 0, sd, CPU_NOT_IDLE, NOW) == 1
    assert sd.nr_balance_failed == sd.cache_nice_tries + 1
    assert sim.metrics.calls[-1].reason == "active"
    assert sim.rqs[0].nr_running == 1


def test_all_pinned_resets_failures():
    sim = machine()
    ts = pile(sim, 1, [0, 10 ** 7, 10 ** 7])
    for t in ts:
        t.allowed = frozenset({1})
    sd = next(d for d in sim.topo.domains[0] if d.level == MC)
    sd.nr_balance_failed = 1
    assert load_balance(sim, 0, sd, CPU_NOT_IDLE, NOW) == 0
    assert sd.nr_balance_failed == 0


def test_workloads_are_seeded_and_reproducible():
    for kind in workloads.KINDS:
        a = Simulator(workloads.make(kind, 5, duration_ms=80)).run().summary()
        b = Simulator(workloads.make(kind, 5, duration_ms=80)).run().summary()
        assert a == b and a["calls"] > 0, kind
    a = Simulator(workloads.make("bursty", 6, duration_ms=80)).run().summary()
    assert a != Simulator(workloads.make("bursty", 7, duration_ms=80)).run().summary()
    with pytest.raises(ValueError, match="unknown workload kind"):
        workloads.make("nope", 1)


@pytest.fixture(scope="module")
def example():
    path = ROOT / "examples" / "forced_migration.rmt"
    return path.read_text(), str(path)


def engine_with_models(src: str, name: str, y1_bias: int = 0):
    """The example on the reference engine with an MLP whose heads are constant-ish:
    head 0 = bias 1 (ALLOW), head 1 = y1_bias; and a one-leaf tree."""
    prog = compile_source(src, name)
    eng = ReferenceEngine(objfile.write(prog))
    n = prog.models[0].n_in
    eng.model_load(0, W.write_weights(W.mlp([
        W.DenseLayer([[0] * n] * 12, [0] * 12, 0, True),
        W.DenseLayer([[0] * 12] * 2, [1, y1_bias], 0, False)])))
    eng.model_load(1, W.write_weights(W.forest([W.Tree([W.Node(-1)], [[0, 0]])], n,
                                               kind=prog.models[1].kind)))
    return prog, eng


def test_shadow_mode_uses_kernel_decision_and_traces_every_soft_call(example):
    prog, eng = engine_with_models(*example)
    wl = workloads.make("bursty", 1, topology=(1, 2, 2), duration_ms=120,
                        migration_cost_ns=5_000_000)
    stock = Simulator(wl).run().summary()
    session = EngineSession(eng, prog)
    hook = Hook(session)
    m = Simulator(workloads.make("bursty", 1, topology=(1, 2, 2), duration_ms=120,
                                 migration_cost_ns=5_000_000), hook).run()
    hook.close()
    assert m.summary() == stock                       # shadow mode changes nothing
    st = eng.stats()
    assert st.runs == stock["calls"] > 0
    ds = features.from_records([trace_json(prog, r) for r in session.records])
    assert len(ds) == stock["soft_calls"]
    assert ds.verdict.tolist() == [int(c.kernel) for c in m.calls if not c.hard_veto]
    assert ds.forced.tolist() == [int(c.forced) for c in m.calls if not c.hard_veto]
    # the program always says ALLOW: agreement is exactly the kernel's ALLOW share
    denied = sum(1 for c in m.calls if not c.hard_veto and not c.kernel)
    assert st.shadow_disagree == denied > 0


def test_trace_features_match_the_python_features(example):
    prog, eng = engine_with_models(*example)
    sim = Simulator(workloads.make("numa", 2, topology=(2, 2, 1), duration_ms=400, load=3.0))
    ctxs = []

    class Keep(Hook):
        def decide(self, p, env, v):
            if not v.hard_veto:
                f = ctx_fields(p, env, v)
                ctxs.append(f)
                eng.run(codec.ctx_encode(HOOK, f))
            return v.migrate

    sim.hook = Keep(None)
    sim.run()
    ds = features.from_records([trace_json(prog, r) for r in eng.trace_drain()])
    assert len(ds) == len(ctxs) > 20
    assert ds.x.tolist() == [features.from_ctx(c) for c in ctxs]
    assert ds.x[:, 16].any() and ds.x[:, 12].any()     # NUMA features are exercised


def test_enforce_mode_program_decides_the_soft_part_only(example):
    src, name = example
    # head 1 > 0 everywhere: the veto policy DENYs every soft call (until the guard)
    prog, eng = engine_with_models(src.replace("mode shadow;", "mode enforce;"), name,
                                   y1_bias=5)
    tb = prog.tables[0]
    for idle in ("0", "1", "2"):
        eng.table_insert(0, __import__("rmt.contract.engine", fromlist=["Entry"]).Entry(
            codec.parse_matches(tb, [idle, "0..1024"]), 0,
            codec.pack_params(tb.actions[0], [2, 0])))
    wl = workloads.make("cpu_bound", 2, topology=(1, 2, 2), duration_ms=200)
    hook = Hook(EngineSession(eng, prog))
    m = Simulator(wl, hook).run()
    soft_allowed = [c for c in m.calls if not c.hard_veto and c.kernel]
    assert soft_allowed and hook.overrides > 0
    assert all(not c.decided for c in m.calls if c.hard_veto)       # hard vetoes stand
    # every soft ALLOW was turned into DENY except where the guard stepped in
    assert sum(c.decided for c in soft_allowed) < len(soft_allowed)
    assert m.vetoed_forced == sum(1 for c in m.calls if c.forced and not c.decided)
