"""casestudies/kernel_prefetch_eval.py's host side: the interleaved plan and the summary table
(the guest runs are `make kernel-prefetch-eval`'s; the mechanism is
tests/kernel/test_kmod_prefetch.py's)."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

from rmt.casestudies import kernel_prefetch_eval as E


def test_plan_interleaves_every_config_in_every_round() -> None:
    names = {"a": {"argv": ["a"], "cwd": "/tmp"}, "b": {"argv": ["b"], "cwd": "/tmp"}}
    steps = E.plan(names, [0.25, 0.5], 3, {"leap": True})
    assert len(steps) == 3 * 2 * 2 * 4
    for r in range(3):
        got = [(s["workload"], s["frac"], s["prefetcher"]) for s in steps if s["round"] == r]
        assert sorted(got) == sorted((w, f, p) for w in names for f in (0.25, 0.5)
                                     for p in E.PREFETCHERS)
    # rounds run the prefetchers in different orders (no config always first)
    firsts = {[s for s in steps if s["round"] == r][0]["prefetcher"] for r in range(3)}
    assert len(firsts) == 3
    assert all(s["page_cluster"] == (3 if s["prefetcher"] == "readahead" else 0) for s in steps)
    no_leap = E.plan(names, [0.5], 1, {"leap": False})
    assert {s["prefetcher"] for s in no_leap} == {"readahead", "off", "rmt"}


def _run(w: str, p: str, r: int, seconds: float, majflt: int, read: int = 0) -> dict:
    return {"workload": w, "frac": 0.5, "prefetcher": p, "round": r, "ws_bytes": 8 << 20,
            "ws_anon": 6 << 20, "ws_file": 2 << 20,
            "result": {"seconds": seconds, "majflt": majflt, "status": 0,
                       "vmstat": {"pswpin": majflt + read, "swap_ra_hit": 0}},
            "prefetch": {"read": read, "hits": read // 2} if p == "rmt" else None}


def test_summary_is_relative_to_off_of_the_same_round() -> None:
    runs = [_run("w", "off", 0, 10.0, 100), _run("w", "rmt", 0, 5.0, 40, 60),
            _run("w", "off", 1, 20.0, 100), _run("w", "rmt", 1, 5.0, 50, 50),
            _run("w", "off", 2, 10.0, 100), _run("w", "rmt", 2, 8.0, 45, 55)]
    rows, text = E.summarise(runs)
    rmt = next(x for x in rows if x["prefetcher"] == "rmt")
    assert (rmt["rel_median"], rmt["rel_min"], rmt["rel_max"]) == (0.5, 0.25, 0.8)
    assert rmt["majflt"] == 45 and rmt["pf_read"] == 55 and rmt["pf_hits"] == 27
    off = next(x for x in rows if x["prefetcher"] == "off")
    assert off["rel_median"] == 1.0
    assert "| w | 50% of 6.0 MB anon + 2.0 MB file | rmt | 45 |" in text


def test_runs_killed_at_the_time_limit_are_marked_as_lower_bounds() -> None:
    runs = [_run("w", "off", 0, 10.0, 100), _run("w", "rmt", 0, 5.0, 40, 60)]
    runs[0]["result"]["timed_out"] = True
    rows, text = E.summarise(runs)
    off = next(x for x in rows if x["prefetcher"] == "off")
    assert off["killed"] == 1
    assert "| >= 10.0 (1 of 1 killed at the limit) |" in text
    assert "| 5.0 |" in text            # the rmt run finished


def test_the_limit_squeezes_anonymous_memory_not_the_page_cache() -> None:
    from rmt.casestudies import kernel_prefetch_guest as G
    ws = {"bytes": 30 << 20, "anon": 10 << 20, "file": 20 << 20}
    assert G.memory_limit(ws, 0.5) == (5 << 20) + (20 << 20)
    assert G.memory_limit(ws, 1.0) == 30 << 20
    assert G.run_limit_s(1.0) == 60.0 and G.run_limit_s(10.0) == 200.0


@pytest.mark.parametrize("argv", [["--fracs", "1.5"], ["--rounds", "0"], ["--fracs"]])
def test_bad_arguments_are_one_line_errors(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as e:
        E.main(argv + ["--dry-run"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error:" in err and "Traceback" not in err


def test_from_json_redraws_the_table_and_plots(tmp_path, capsys) -> None:
    import json
    runs = [_run("w", p, r, 10.0 if p == "off" else 6.0, 100 if p == "off" else 40, 60)
            for r in range(3) for p in E.PREFETCHERS]
    (tmp_path / "results.json").write_text(json.dumps({"runs": runs}))
    assert E.main(["--from-json", str(tmp_path / "results.json"), "--out",
                   str(tmp_path / "o")]) == 0
    assert "| w | 50% of 6.0 MB anon + 2.0 MB file | rmt | 40 |" in \
        (tmp_path / "o" / "table.md").read_text()
    for kind in ("runtime", "majflt"):
        assert (tmp_path / "o" / f"kernel_prefetch_{kind}_50.png").stat().st_size > 1000
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert E.main(["--from-json", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "bad.json: not a results.json" in err and "Traceback" not in err
