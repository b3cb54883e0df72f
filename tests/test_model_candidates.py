"""Candidate models in every engine: stage beside the live weights, promote, roll back.

The candidate is a side channel: the program acts on the live weights' outputs, so
decisions, context writes and maps are the same with and without a candidate staged;
what the candidate adds (agreement counters, disagreement trace records, versions,
history) is the same in every engine (docs/semantics.md, "Candidate models")."""
from __future__ import annotations

import errno
import random

import pytest

import rmt
from rmt.contract import codec
from rmt.contract.engine import CANDIDATE_TRACE_FMT, EngineError
from rmt.contract.weights import blob_for

KINDS = ["ref", "c", "jit", "llvm"]


@pytest.fixture(scope="module")
def linear():
    prog = rmt.compile_file("examples/small/linear.rmt")
    return prog, rmt.write_object(prog)


def _weights(prog, w, b, version=0):
    return blob_for(prog.models[0], layers=[([w], [b])], version=version)


def _engine(kind, blob):
    try:
        return rmt.engine(blob, kind)
    except ImportError as e:                   # llvmlite not installed
        pytest.skip(f"{kind}: {e}")


def _fields(n=200, seed=1):
    rng = random.Random(seed)
    return [{"src_nr_running": rng.randrange(0, 12), "dst_nr_running": rng.randrange(0, 12),
             "task_hot": rng.randrange(0, 2), "nr_balance_failed": rng.randrange(0, 4)}
            for _ in range(n)]


def _ctxs(prog):
    return [codec.ctx_encode(prog.hook, f) for f in _fields()]


LIVE = ([1, -1, 0, 0], 0)          # ALLOW when src > dst
CAND = ([1, -1, -1, 0], 2)         # ... and neither hot nor within 2


def _session(kind, prog, blob, stage: bool):
    e = _engine(kind, blob)
    e.model_load(0, _weights(prog, *LIVE))
    if stage:
        e.model_stage(0, _weights(prog, *CAND))
    decisions = [e.run(c, cpu=0, now=i).decision for i, c in enumerate(_ctxs(prog))]
    return e, decisions


@pytest.mark.parametrize("kind", KINDS)
def test_candidate_does_not_change_decisions(kind, linear):
    prog, blob = linear
    _, plain = _session(kind, prog, blob, stage=False)
    e, staged = _session(kind, prog, blob, stage=True)
    assert staged == plain
    st = e.model_state(0)
    assert st.agree + st.disagree == len(plain)
    assert st.disagree > 0 and st.agree > 0            # the two models do differ sometimes


def _expected_disagreements(prog):
    """Computed here from the definitions: outputs on different sides of 0."""
    out = []
    for f in _fields():
        x = [min(f["src_nr_running"], 1024), min(f["dst_nr_running"], 1024),
             f["task_hot"] * 1024, min(f["nr_balance_failed"], 1024)]
        live = sum(a * b for a, b in zip(LIVE[0], x)) + LIVE[1]
        cand = sum(a * b for a, b in zip(CAND[0], x)) + CAND[1]
        if (live > 0) != (cand > 0):
            out.append((live, cand))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_agreement_and_trace_records(kind, linear):
    prog, blob = linear
    e, _ = _session(kind, prog, blob, stage=True)
    want = _expected_disagreements(prog)
    st = e.model_state(0)
    assert st.disagree == len(want)
    recs = [r for r in e.trace_drain() if r.fmt == CANDIDATE_TRACE_FMT]
    got = [(codec.decode_value(r.values[2], 32, True), codec.decode_value(r.values[3], 32, True))
           for r in recs]
    assert got == want
    assert all(r.values[:2] == (0, 1) for r in recs)


def test_engines_agree_on_everything_observable(linear):
    prog, blob = linear
    seen = {}
    for kind in KINDS:
        try:
            e, decisions = _session(kind, prog, blob, stage=True)
        except pytest.skip.Exception:
            continue
        st = e.model_state(0)
        seen[kind] = (decisions, st.agree, st.disagree, e.trace_drain(), e.stats().decisions)
    assert len(seen) >= 2
    first = next(iter(seen.values()))
    for kind, v in seen.items():
        assert v == first, kind


@pytest.mark.parametrize("kind", KINDS)
def test_promote_rollback_versions_and_history(kind, linear):
    prog, blob = linear
    e = _engine(kind, blob)
    ctx = codec.ctx_encode(prog.hook, {"src_nr_running": 3, "dst_nr_running": 2,
                                       "task_hot": 1})
    allow = prog.hook.decision.names["ALLOW"]
    deny = prog.hook.decision.names["DENY"]
    assert e.model_load(0, _weights(prog, *LIVE)) == 1
    assert e.run(ctx).decision == allow
    assert e.model_stage(0, _weights(prog, *CAND)) == 2
    assert e.run(ctx).decision == allow                     # still the live weights
    assert e.model_promote(0) == 2
    assert e.run(ctx).decision == deny                      # the candidate, now live
    st = e.model_state(0)
    assert (st.version, st.cand_version, st.prev_version) == (2, 0, 1)
    assert (st.agree, st.disagree) == (0, 1)
    assert e.model_rollback(0) == 1
    assert e.run(ctx).decision == allow
    st = e.model_state(0)
    assert (st.version, st.cand_version, st.prev_version) == (1, 0, 0)
    assert [(h.op, h.version) for h in st.history] == [
        ("load", 1), ("stage", 2), ("promote", 2), ("rollback", 1)]
    assert (st.history[2].agree, st.history[2].disagree) == (0, 1)
    # versions are never reused: the next load is 3, not 2 again
    assert e.model_load(0, _weights(prog, *CAND)) == 3
    assert e.model_rollback(0) == 1
    assert e.model_stage(0, _weights(prog, *CAND, version=40)) == 40
    assert e.model_unstage(0) == 40
    assert e.model_state(0).cand_version == 0


@pytest.mark.parametrize("kind", KINDS)
def test_bad_requests_change_nothing(kind, linear):
    prog, blob = linear
    e = _engine(kind, blob)
    with pytest.raises(EngineError) as ex:
        e.model_promote(0)
    assert ex.value.code == errno.ENOENT and "no candidate" in str(ex.value)
    with pytest.raises(EngineError) as ex:
        e.model_rollback(0)
    assert ex.value.code == errno.ENOENT and "roll back" in str(ex.value)
    e.model_load(0, _weights(prog, *LIVE))
    e.model_stage(0, _weights(prog, *CAND))
    before = e.model_state(0)
    bad = blob_for(prog.models[0], layers=[([[1, 1, 1, 1]], [0])])[:-4]   # truncated
    with pytest.raises(EngineError) as ex:
        e.model_stage(0, bad)
    assert ex.value.code == errno.EINVAL
    with pytest.raises(EngineError) as ex:
        e.model_stage(1, _weights(prog, *CAND))
    assert ex.value.code == errno.ENOENT
    with pytest.raises(EngineError):
        e.model_promote(7)
    after = e.model_state(0)
    assert (after.version, after.cand_version, after.prev_version) == \
        (before.version, before.cand_version, before.prev_version)
    assert after.history == before.history


def test_state_history_keeps_the_latest(linear):
    prog, blob = linear
    for kind in ("ref", "c"):
        e = _engine(kind, blob)
        for _ in range(20):
            e.model_load(0, _weights(prog, *LIVE))
        h = e.model_state(0).history
        assert [x.version for x in h] == list(range(5, 21))
