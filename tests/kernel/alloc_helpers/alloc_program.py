"""The program, seed entries, weights and probe contexts of the allocation-fault tests.

Shared by tests/test_cvm_alloc_faults.py (the userspace C VM) and the guest side of
tests/kernel/test_kmod_alloc.py (rmt.ko), so both sweep the same structures.

The program has one table per lookup structure (exact: hash chains; lpm: tries
in groups; ternary: tuples; range: search trees), a model with a hidden layer,
a hash, an array and a per-CPU map, and traces: each matched entry traces its
tag, and every run traces the model's output, so behaviour (which entries
match, what the model computes) is visible in the trace records.
"""
from __future__ import annotations

from rmt.contract.hooks import HOOKS
from rmt.contract.engine import Entry, Exact, Lpm, Range, Ternary
from rmt.contract.weights import DenseLayer, mlp, write_weights

SOURCE = """
hook sched.can_migrate_task;

model score: mlp(in = 2, out = 1, weight = i16, input = 0..1024) { dense(3, relu); dense(1); }

map seen: hash<u32, u64>[64];
map slots: array<u64>[8];
map bumps: counter[2] percpu;

table ex {
    key = { ctx.src_cpu: exact; }
    actions = { bump; pass; }
    default_action = pass;
    size = 64;
}

table lp {
    key = { ctx.dst_cpu: lpm; }
    actions = { bump; pass; }
    default_action = pass;
    size = 64;
}

table te {
    key = { ctx.lb_flags: ternary; ctx.sd_level: exact; }
    actions = { bump; pass; }
    default_action = pass;
    size = 64;
}

table ra {
    key = { ctx.src_nr_running: range; }
    actions = { bump; pass; }
    default_action = pass;
    size = 64;
}

action bump(tag: u32) { bumps[0] += 1; trace(tag); }
action pass() { }

apply {
    ex.apply();
    lp.apply();
    te.apply();
    ra.apply();
    let x: i32[2];
    x[0] = min(ctx.src_nr_running, 1024) as i32;
    x[1] = min(ctx.dst_nr_running, 1024) as i32;
    let y = score(x)[0];
    trace(ctx.src_cpu, out = y);
    if y > 0 { decide(ALLOW); } else { decide(DENY); }
}
"""

EX, LP, TE, RA = range(4)
HOOK = HOOKS["sched.can_migrate_task"]


def tag(n: int) -> bytes:
    return n.to_bytes(4, "little")


def weights(scale: int) -> bytes:
    return write_weights(mlp([DenseLayer([[scale, -1], [1, scale], [-2, 3]], [1, -5, 7], 2,
                                         relu=True),
                              DenseLayer([[3, -scale, 1]], [-4], 1)]))


# Seeded entries: several per table so updates go through the interesting paths
# (lpm: shared prefixes and intermediate trie nodes; ternary: several masks;
# range: overlapping intervals in one group).
SEED = {
    EX: [Entry((Exact(c),), 0, tag(100 + c)) for c in (1, 2, 3, 17, 40)],
    LP: [Entry((Lpm(0x0800, 5),), 0, tag(201)), Entry((Lpm(0x0840, 10),), 0, tag(202)),
         Entry((Lpm(0x0C00, 6),), 0, tag(203)), Entry((Lpm(0x0841, 16),), 0, tag(204))],
    TE: [Entry((Ternary(0x1, 0x1), Exact(1)), 0, tag(301), 5),
         Entry((Ternary(0x10, 0xF0), Exact(1)), 0, tag(302), 7),
         Entry((Ternary(0x3, 0x3), Exact(2)), 0, tag(303), 1)],
    RA: [Entry((Range(10, 20),), 0, tag(401), 3), Entry((Range(15, 40),), 0, tag(402), 4),
         Entry((Range(100, 200),), 0, tag(403), 1)],
}

# Probe contexts: each one matches some seeded entries (or the ones the sweeps
# add) so lookups through every structure are part of the behaviour compared.
PROBES = [
    dict(src_cpu=1, dst_cpu=0x0841, lb_flags=0x11, sd_level=1, src_nr_running=12,
         dst_nr_running=300),
    dict(src_cpu=17, dst_cpu=0x0C05, lb_flags=0x13, sd_level=2, src_nr_running=30,
         dst_nr_running=5),
    dict(src_cpu=9, dst_cpu=0x0845, lb_flags=0x20, sd_level=1, src_nr_running=150,
         dst_nr_running=900),
    dict(src_cpu=40, dst_cpu=0x0123, lb_flags=0x1F, sd_level=3, src_nr_running=7,
         dst_nr_running=64),
    dict(src_cpu=5, dst_cpu=0x0A00, lb_flags=0x40, sd_level=1, src_nr_running=60,
         dst_nr_running=1),
]
