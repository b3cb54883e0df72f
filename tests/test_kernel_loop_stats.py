"""casestudies/kernel_loop.py's trace statistics on hand-made records: the buddy-hot rates
and the migrate_degrades_locality() estimate of the forced label."""
from __future__ import annotations

import json
from pathlib import Path

from rmt.casestudies import kernel_loop as kl
from rmt.learn import features as F


def rec(bits: dict[int, int], *, dst_nr: int = 1, delta: int = 0, verdict: int = 1,
        hot: int = 0, active: int = 0) -> dict:
    flags = sum(1 << F.FLAG_BITS[i] for i, v in bits.items() if v)
    fields = {"flags": flags, "x_8": 0, "x_9": dst_nr * F.FIX, "x_10": 0, "x_11": 0,
              "x_12": delta, "verdict": verdict, "hot": hot, "active": active,
              "y_0": 0, "y_1": 0, "t_0": 0, "t_1": 0}
    return {"prog": "forced_migration", "fmt": "t", "cpu": 0, "ts": 1, "fields": fields}


def test_buddy_rates() -> None:
    recs = [rec({14: 1, 1: 0}), rec({14: 1, 1: 1}), rec({}), rec({}, dst_nr=0)]
    b = kl.buddy_rates(F.from_records(recs))
    assert b == {"calls": 4, "buddy_hot": 2, "rate": 0.5, "busy_dst_calls": 3,
                 "rate_busy_dst": 2 / 3, "buddy_hot_not_delta_hot": 1}


def test_locality_gap(tmp_path: Path) -> None:
    failed = {13: 1, 16: 1}                      # nr_balance_failed > cache_nice_tries, faults
    recs = [
        # cross-node, leaving the preferred node with non-preferred tasks there: hot
        rec({**failed, 6: 1, 0: 1}, hot=0),
        # cross-node, moving to the preferred node: not hot
        rec({**failed, 7: 1}, hot=1),
        # cross-node, no preference, dst has fewer faults (delta < 0): hot
        rec({**failed}, delta=-5, hot=1),
        # same node: no opinion, the traced bit stands
        rec({**failed, 5: 1}, hot=1),
        # cross-node but an SMT domain: no opinion
        rec({**failed, 15: 1}, hot=0),
        # cross-node, CPU_IDLE: no opinion
        rec({**failed, 2: 1}, hot=0),
    ]
    p = tmp_path / "w.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    g = kl.locality_gap([p])
    assert g == {"calls": 6, "locality_has_opinion": 3, "hot_differs": 2,
                 "forced_traced": 3, "forced_with_locality": 3}
