"""The C loader/validator and the Python reader/validator agree on fuzzed objects.

tests/fuzz/loader_corpus/ is a sample of the fuzz_load corpus (tools/fuzz/):
mutated objects, one per distinct rejection message (130 kinds when it was
taken) plus some that load.  Each must be accepted by both the reference
engine and the C VM, or refused by both with the same errno and the same
"<where>: <why>" message (tools/fuzz/loader_diff.py; `make fuzz` runs it on
the whole corpus).  The verifier must report on every one of them without
raising (one with opcode 255 once crashed its cost check) and never accept
an object the loaders refuse.
"""
from __future__ import annotations

import re
from pathlib import Path

from loader_diff import check_verifier, compare, object_part, verdict   
from rmt.semantics.reference import ReferenceEngine

CORPUS = Path(__file__).resolve().parent / "fuzz" / "loader_corpus"


def test_loaders_agree_on_the_fuzz_sample() -> None:
    files = sorted(CORPUS.iterdir())
    diffs = [f"{f.name}: {d}" for f in files if (d := compare(object_part(f.read_bytes())))]
    assert not diffs, "\n".join(diffs)


def test_sample_covers_many_rejections() -> None:
    msgs = {re.sub(r"\d+", "N", verdict(ReferenceEngine, f.read_bytes())[1])[:90]
            for f in CORPUS.iterdir()}
    assert len(msgs) >= 100, sorted(msgs)     # distinct messages (numbers aside), "" = loads


def test_verifier_reports_on_every_fuzzed_object() -> None:
    files = sorted(CORPUS.iterdir())
    bad = [f"{f.name}: {d}" for f in files if (d := check_verifier(f.read_bytes()))]
    assert not bad, "\n".join(bad)
