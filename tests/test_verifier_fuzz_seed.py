"""The verifier soundness fuzzer (tools/fuzz/verifier_fuzz.py) explores new programs each run
and its generator (tools/fuzz/accept_gen.py) reaches every opcode."""
from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path
from accept_gen import gen_accept_program     
from rmt.contract.isa import BY_CODE

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> tuple[int, dict]:
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "fuzz" / "verifier_fuzz.py"),
                          "--count", "1", "--seconds", "60", *args],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    m = re.search(r"first seed (\d+) \(replay: --first \1\)", out)
    assert m, out
    return int(m.group(1)), json.loads(out.strip().splitlines()[-1])


def test_each_run_prints_a_fresh_seed_and_replays_a_given_one() -> None:
    a, fa = _run()
    b, _ = _run()
    assert a != b                       # 2^32 seeds: equal by chance once in 4 billion
    assert fa["first_seed"] == a and fa["programs"] == 1
    c, fc = _run("--first", "12345")
    assert c == 12345 and fc["first_seed"] == 12345


def test_generator_reaches_every_opcode_including_register_signed_division() -> None:
    seen: set[str] = set()
    for s in range(400):
        prog = gen_accept_program(random.Random(s), 0.3 if s % 4 == 3 else 0.0)
        seen |= {BY_CODE[i.code].name for i in prog.code}
    missing = {op.name for op in BY_CODE.values()} - seen
    assert not missing, f"never generated: {sorted(missing)}"
    assert {"SDIV_R", "SMOD_R"} <= seen
