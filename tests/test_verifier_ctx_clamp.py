"""Every context range the verifier assumes is enforced where a context is built, from the
one spec: rmt.contract.hooks.clamp_ctx() in the simulators, the generated
rmt_ctx_<hook>_clamp() (vm_kernel/core/rmt_hooks.h, kept fresh by tests/test_generated.py) in
rmt.ko's hooks."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from rmt.contract.hooks import HOOKS, Access, clamp_ctx
from rmt.contract import codec

ROOT = Path(__file__).resolve().parents[1]


def _extremes(spec, big: bool) -> dict:
    out = {}
    for f in spec.fields:
        if f.access == Access.NONE:
            continue
        v = f.type.max if big else f.type.min
        out[f.name] = [v] * f.count if f.count > 1 else v
    return out


@pytest.mark.parametrize("name", list(HOOKS))
@pytest.mark.parametrize("big", [True, False])
def test_clamp_ctx_brings_every_field_into_its_declared_range(name: str, big: bool) -> None:
    spec = HOOKS[name]
    got = clamp_ctx(spec, _extremes(spec, big))
    for f in spec.fields:
        if f.access == Access.NONE:
            continue
        vals = got[f.name] if f.count > 1 else [got[f.name]]
        assert all(f.lo <= v <= f.hi for v in vals), (f.name, vals)
        want = f.hi if big else f.lo
        assert vals[0] == want
    codec.ctx_encode(spec, got)           # and the result is a valid context


@pytest.mark.parametrize("name", list(HOOKS))
def test_generated_c_clamp_covers_the_same_fields(name: str) -> None:
    spec = HOOKS[name]
    hdr = (ROOT / "vm_kernel" / "core" / "rmt_hooks.h").read_text()
    cname = name.replace(".", "_")
    body = hdr.split(f"rmt_ctx_{cname}_clamp(struct rmt_ctx_{cname} *c)\n{{", 1)[1]
    body = body.split("\n}\n", 1)[0]
    clamped = set(re.findall(r"c->(\w+)", body))
    want = {f.name for f in spec.fields if f.access != Access.NONE
            and (f.lo != f.type.min or f.hi != f.type.max)}
    assert clamped == want


def test_kernel_hooks_call_the_generated_clamp() -> None:
    from rmt.contract import kgen
    probed = kgen.probed()
    assert {h.name for h in probed} >= {"sched.can_migrate_task", "mm.swap_fault"}
    for h in probed:
        src = (ROOT / "vm_kernel" / "kmod" / f"rmt_kmod_hook_{h.kernel.offsets}.c").read_text()
        fn = f"rmt_ctx_{h.name.replace('.', '_')}_clamp("
        assert re.search(re.escape(fn) + r"&?c\)", src), f"{h.name}: its probe never calls {fn}"


def test_sched_sim_context_is_clamped() -> None:
    """cache_nice_tries (0..8) and migration_cost_ns (<= 1 s) came through unclamped."""
    from rmt.sched_sim import hook as H
    spec = HOOKS["sched.can_migrate_task"]
    src = Path(H.__file__).read_text()
    assert "clamp_ctx(HOOK, {" in src
    assert clamp_ctx(spec, {"cache_nice_tries": 50, "migration_cost_ns": 5 * 10**9}) == \
        {"cache_nice_tries": 8, "migration_cost_ns": 10**9}


def test_unknown_field_is_refused() -> None:
    with pytest.raises(KeyError):
        clamp_ctx(HOOKS["mm.swap_fault"], {"nope": 1})
