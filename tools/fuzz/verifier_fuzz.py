"""Long runs of the verifier soundness oracle, with coverage of verifier/.

    python tools/fuzz/verifier_fuzz.py --seconds 120 [--risk 0.1] [--cov] [--json FILE]

Generates programs with tools/fuzz/accept_gen.py (seeds FIRST, FIRST + 1, ...;
FIRST is fresh each run unless given, and printed first, so every run explores
new programs; a failure names its seed, so `--first SEED --count 1` reproduces
it) and checks
each with tools/fuzz/verifier_oracle.py on every engine.  --cov measures
line and branch coverage of verifier/ with coverage.py over the run.
Exit status 1 on the first violated verdict.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def run(seconds: float, first: int, count: int | None, risk: float) -> dict:
    from accept_gen import gen_accept_program
    from verifier_oracle import check_program
    t0, c0 = time.monotonic(), time.process_time()
    n = accepted = with_model = aborts = 0
    seed = first
    while (count is None or n < count) and time.monotonic() - t0 < seconds:
        # Every 4th program has weakened guards, so rejections are exercised too.
        r = risk if seed % 4 == 3 else 0.0
        try:
            o = check_program(gen_accept_program(random.Random(seed), r), seed)
        except AssertionError as e:
            raise SystemExit(f"seed {seed} (risk {r}): {e}") from e
        n += 1
        accepted += o.accepted
        with_model += o.accepted and o.has_model
        aborts += o.aborts
        seed += 1
    return {"programs": n, "accepted": accepted, "accepted_with_model": with_model,
            "runs": n * 8, "aborts_predicted": aborts,
            "cpu_seconds": round(time.process_time() - c0, 1),
            "wall_seconds": round(time.monotonic() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--first", type=int, default=None,
                    help="the first seed (default: a fresh one, printed)")
    ap.add_argument("--count", type=int)
    ap.add_argument("--risk", type=float, default=0.3)
    ap.add_argument("--cov", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    if a.first is None:
        a.first = random.SystemRandom().randrange(2**32)
    print(f"verifier_fuzz: first seed {a.first} (replay: --first {a.first})", flush=True)
    cov = None
    if a.cov:
        import coverage
        root = HERE.parents[1]
        cov = coverage.Coverage(branch=True, source=[str(root / "verifier")],
                                data_file=str(root / "build" / "fuzz" / ".coverage.verifier"))
        cov.start()
    figures = run(a.seconds, a.first, a.count, a.risk)
    if cov is not None:
        cov.stop()
        cov.save()
        import io
        buf = io.StringIO()
        total = cov.report(file=buf, show_missing=False)
        figures["verifier_coverage_percent"] = round(total, 1)
        figures["coverage_report"] = buf.getvalue()
        print(buf.getvalue())
    figures["first_seed"] = a.first
    print(json.dumps({k: v for k, v in figures.items() if k != "coverage_report"}))
    if a.json:
        a.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
