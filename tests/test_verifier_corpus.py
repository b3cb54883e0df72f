"""The verifier corpus: tests/verifier/<category>/<name>.{bad,ok}.case.

Every `.bad.case` must be rejected with the expected reasons and has an
`.ok.case` near-twin (the same program with the bug fixed) that must be
accepted.  Case files use the sections of docs/test-cases.md (`-- hook`,
`-- asm` + `-- schema`, or `-- rmt`; the program is built by
tests/casefile.py) plus the verifier's own:

    -- expect reject            (or: -- expect accept)
    InBounds: out of bounds     one line per expected failure: obligation kind, then a phrase
    InBounds@7: ...             ... optionally the source line the failure must point at
    -- options
    budget=500                  verifier options (budget)
    -- weights
    {"m": {...}}                model weights, as in docs/test-cases.md

An asm case's schema may also list guards: `"guards": [["allow", 0],
["max_streak", DECISION, LIMIT, MAP]]` (GUARDS records, contract/objformat.py).

A reject case passes when each expected line matches a reported failure (kind
equal, phrase found case-insensitively in the message, note or counterexample)
and every reported failure's kind is one of the expected kinds.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from casefile import Case, build_program, weights_blob
from rmt.contract import objfile
from rmt.contract.objfile import Guard
from rmt.contract.objformat import GuardKind
from rmt.verifier import VerifyOptions, verify_bytes
from rmt.verifier.obligations import Counterexample
from rmt.verifier.report import text

CORPUS = Path(__file__).parent / "verifier"
CASES = sorted(CORPUS.glob("*/*.case"))


@dataclass
class Expect:
    kind: str
    line: int | None
    phrase: str


@dataclass
class VCase:
    path: Path
    hook: str = ""
    asm: str | None = None
    rmt: str | None = None
    schema: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    verdict: str = ""
    expects: list[Expect] = field(default_factory=list)


def load_vcase(path: Path) -> VCase:
    c = VCase(path)
    cur, arg, buf = None, None, []
    sections: list[tuple[str, str | None, str, int]] = []
    start = 0
    for n, raw in enumerate(path.read_text().splitlines() + ["-- end"], 1):
        m = re.fullmatch(r"--\s+(\w+)(?:\s+(\w+))?\s*", raw)
        if m:
            if cur is not None:
                sections.append((cur, arg, "\n".join(buf) + "\n", start))
            cur, arg, buf, start = m.group(1), m.group(2), [], n
        elif cur is not None:
            buf.append(raw)
        elif raw.strip() and not raw.startswith("#"):
            raise ValueError(f"{path}:{n}: text before the first section")
    for name, arg, body, line in sections:
        if name == "hook":
            c.hook = body.strip()
        elif name == "asm":
            c.asm = body
        elif name == "rmt":
            c.rmt = body
        elif name == "schema":
            c.schema = json.loads(body)
        elif name == "weights":
            c.weights = json.loads(body)
        elif name == "options":
            for item in body.split():
                k, _, v = item.partition("=")
                c.options[k] = int(v, 0)
        elif name == "expect":
            if arg not in ("accept", "reject"):
                raise ValueError(f"{path}:{line}: `-- expect accept` or `-- expect reject`")
            c.verdict = arg
            for ln in body.splitlines():
                ln = ln.split("#", 1)[0].strip()
                if not ln:
                    continue
                m = re.fullmatch(r"(\w+)(?:@(\d+))?\s*(?::\s*(.*))?", ln)
                if not m:
                    raise ValueError(f"{path}: bad expectation {ln!r}")
                c.expects.append(Expect(m.group(1), int(m.group(2)) if m.group(2) else None,
                                        (m.group(3) or "").strip()))
        elif name != "end":
            raise ValueError(f"{path}:{line}: unknown section {name!r}")
    if not c.verdict:
        raise ValueError(f"{path}: no `-- expect` section")
    if c.verdict == "reject" and not c.expects:
        raise ValueError(f"{path}: a reject case lists the failures it expects")
    return c


def run_vcase(c: VCase):
    prog = build_program(Case(str(c.path), c.hook, asm=c.asm, rmt=c.rmt, schema=c.schema))
    # asm cases may declare guards: "guards": [["allow", 0], ["max_streak", 0, 8, 0]]
    for g in c.schema.get("guards", []):
        prog.guards.append(Guard(GuardKind[g[0].upper()], *g[1:]))
    blobs = {}
    for name, spec in c.weights.items():
        model = next(m for m in prog.models if m.name == name)
        blobs[name] = weights_blob(model, spec)
    opts = VerifyOptions(budget=c.options.get("budget"), weights=blobs)
    return verify_bytes(objfile.write(prog), opts, name=c.path.name)


def _failure_text(r) -> str:
    oc = r.outcome
    parts = [r.obligation.describe()]
    if isinstance(oc, Counterexample):
        parts += [oc.note] + [f"{k}={v}" for k, v in oc.values.items()]
    return " ".join(parts).lower()


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_case(path: Path) -> None:
    c = load_vcase(path)
    rep = run_vcase(c)
    shown = text(rep, path.name)
    if c.verdict == "accept":
        assert rep.accepted, f"{path}: expected accept, got:\n{shown}"
        return
    assert not rep.accepted, f"{path}: expected reject, got:\n{shown}"
    kinds = {e.kind for e in c.expects}
    for f in rep.failures:
        assert f.obligation.kind in kinds, f"{path}: unexpected {f.obligation.kind}:\n{shown}"
    for e in c.expects:
        hits = [f for f in rep.failures if f.obligation.kind == e.kind
                and e.phrase.lower() in _failure_text(f)]
        if e.line is not None:
            hits = [f for f in hits if f.obligation.pc >= 0 and rep.prog is not None
                    and (loc := rep.prog.location(f.obligation.pc)) is not None
                    and loc.line == e.line]
        assert hits, f"{path}: no {e.kind} failure matching {e.phrase!r}" \
                     f"{f' at line {e.line}' if e.line else ''}:\n{shown}"


def test_corpus_shape() -> None:
    """At least 100 rejected programs in at least 10 categories, each with an accepted twin."""
    bad = [p for p in CASES if p.name.endswith(".bad.case")]
    ok = {p for p in CASES if p.name.endswith(".ok.case")}
    assert len(bad) >= 100, len(bad)
    assert len({p.parent.name for p in bad}) >= 10
    for p in bad:
        twin = p.with_name(p.name.replace(".bad.case", ".ok.case"))
        assert twin in ok, f"{p} has no accepted twin {twin.name}"
    for p in CASES:
        assert p.name.endswith((".bad.case", ".ok.case")), p
        want = "reject" if p.name.endswith(".bad.case") else "accept"
        assert load_vcase(p).verdict == want, p
