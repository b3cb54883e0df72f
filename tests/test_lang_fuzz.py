"""Mutated programs: the front end answers with diagnostics, never an exception, and whatever
still checks clean keeps every promise the checker makes to the compiler."""
from __future__ import annotations

import random
import re
from pathlib import Path

from rmt.lang import RmtSyntaxError, check, has_errors, parse, render_all
from walk import problems

ROOT = Path(__file__).resolve().parents[1]


SOURCES = [p.read_text() for p in sorted([*(ROOT / "examples").rglob("*.rmt"),
                                          *(ROOT / "tests" / "lang").rglob("*.rmt")])]
WORDS = ["ctx", "ctx.a", "ctx.idle", "u8", "i64", "bool", "[", "]", "(", ")", "{", "}", ";", "=",
         "+=", "as", "let", "x", "0", "-1", "300", "06", "true", "DENY", "min", "cpu()", "..",
         "exact", "lpm", "predictor", "y[0]", "ctx.hist", "ctx.pf[3]", "<<", "/", "0x10", "decide",
         "trace", "relu", "dense", "hash<u32, u8>", "percpu", "apply", "/*", "i"]


def _mutate(rng: random.Random, src: str) -> str:
    toks = re.findall(r"\w+|[^\w\s]|\s+", src)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(toks))
        op = rng.random()
        if op < 0.3:
            toks[i] = ""
        elif op < 0.7:
            toks[i] = rng.choice(WORDS)
        else:
            toks.insert(i, rng.choice(WORDS) + " ")
    return "".join(toks)


def test_mutated_programs():
    rng = random.Random(1234)
    clean = 0
    for _ in range(400):
        text = _mutate(rng, rng.choice(SOURCES))
        try:
            program = parse(text, "m.rmt")
        except RmtSyntaxError as e:
            assert e.diagnostics and render_all(e.diagnostics, text)
            continue
        diags = check(program)
        render_all(diags, text)
        if not has_errors(diags):
            clean += 1
            assert problems(program) == [], text
    assert clean > 0
