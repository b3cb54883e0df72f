"""Rendering a Report: human text (file:line:col lines) and JSON for tools.

The JSON schema ("rmt-verify/1") is documented in docs/verifier.md; keep the
two in step.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import fields

from rmt.verifier.obligations import Counterexample, Proved, Result, Unknown
from rmt.verifier.properties import describe
from rmt.verifier.verify import Report

SCHEMA = "rmt-verify/1"


def where(rep: Report, pc: int, fallback: str) -> tuple[str, dict | None]:
    """'file:line:col' of a pc (or 'fallback: pc N'), and the location as a dict."""
    if pc >= 0 and rep.prog is not None:
        loc = rep.prog.location(pc)
        if loc is not None:
            return (f"{loc.file}:{loc.line}:{loc.col}",
                    {"file": loc.file, "line": loc.line, "col": loc.col})
        return f"{fallback}: pc {pc}", None
    return fallback, None


def _fmt_value(v) -> str:
    if isinstance(v, int) and abs(v) >= 1 << 20:
        return f"{v} ({hex(v & ((1 << 64) - 1)) if v < 0 else hex(v)})"
    return str(v)


def decisions_text(rep: Report) -> str:
    d = rep.decisions
    if rep.prog is None:
        return "?"
    names = {v: n for n, v in rep.prog.hook.decision.names.items()}
    names[-1] = "DEFAULT"
    if "values" in d:
        vals = ", ".join(f"{names[v]}({v})" if v in names else str(v) for v in d["values"])
        return "{" + vals + "}" + (" (incomplete)" if "incomplete" in d else "")
    if "min" in d:
        return ("{DEFAULT(-1)} u " if d.get("default") else "") + f"[{d['min']}, {d['max']}]"
    return "no bound found beyond the DecisionAllowed obligations"


def _raise_hint(reason: str) -> str:
    """Which knob bounds the query that gave up (docs/verifier.md, "Resource limits")."""
    if "resource limit" in reason:
        return "; a larger --rlimit may prove it"
    if "timeout" in reason or "canceled" in reason:
        return "; a larger --timeout may prove it"
    return ""


def text(rep: Report, filename: str) -> str:
    out = []
    for r in rep.failures:
        ob = r.obligation
        loc, _ = where(rep, ob.pc, filename)
        out.append(f"{loc}: {ob.describe()} ({ob.kind})")
        oc = r.outcome
        if isinstance(oc, Counterexample):
            if oc.values:
                out.append("    counterexample: " + " ".join(
                    f"{k}={_fmt_value(v)}" for k, v in oc.values.items()))
            if oc.note:
                out.append(f"    note: {oc.note}")
        elif isinstance(oc, Unknown):
            out.append(f"    unknown: the solver gave up ({oc.reason}){_raise_hint(oc.reason)}")
    for p in rep.properties:
        out += describe(p, rep.prog)
    n, bad = len(rep.results), len(rep.failures)
    pbad = sum(not p.ok for p in rep.properties)
    verdict = "accepted" if rep.accepted else \
        f"rejected: {bad} of {n} obligations failed" if bad else \
        f"rejected: {pbad} of {len(rep.properties)} properties not proved"
    out.append(f"{filename}: {verdict} ({rep.hook})")
    if rep.prog is not None:
        out.append(f"  obligations: {n - bad} proved, {rep.queries} solver queries")
        out.append(f"  worst-case cost: {rep.cost} (budget {rep.budget})")
        out.append(f"  decisions: {decisions_text(rep)}")
    for note in rep.notes:
        out.append(f"  guard: {note}")
    out.append(f"  time: {rep.seconds:.2f} s")
    return "\n".join(out) + "\n"


def _result_json(rep: Report, r: Result, filename: str) -> dict:
    ob, oc = r.obligation, r.outcome
    _, loc = where(rep, ob.pc, filename)
    detail = {f.name: getattr(ob, f.name) for f in fields(ob) if f.name != "pc"}
    out = {"kind": ob.kind, "pc": ob.pc if ob.pc >= 0 else None, "location": loc,
           "message": ob.describe(), "detail": detail}
    if isinstance(oc, Proved):
        out["status"] = "proved"
        if oc.note:
            out["note"] = oc.note
    elif isinstance(oc, Counterexample):
        out["status"] = "counterexample"
        out["counterexample"] = oc.values
        out["note"] = oc.note
    else:
        out["status"] = "unknown"
        out["reason"] = oc.reason
    return out


def to_json(rep: Report, filename: str) -> dict:
    return {
        "schema": SCHEMA,
        "file": filename,
        "program": rep.program,
        "hook": rep.hook,
        "verdict": "accepted" if rep.accepted else "rejected",
        "summary": {
            "obligations": len(rep.results),
            "proved": sum(r.ok for r in rep.results),
            "failed": sum(isinstance(r.outcome, Counterexample) for r in rep.results),
            "unknown": sum(isinstance(r.outcome, Unknown) for r in rep.results),
            "queries": rep.queries,
            "cost": rep.cost,
            "budget": rep.budget,
            "decisions": rep.decisions,
            "guards": rep.notes,
            "seconds": round(rep.seconds, 4),
        },
        "properties": [dataclasses.asdict(p) for p in rep.properties],
        "failures": [_result_json(rep, r, filename) for r in rep.failures],
        "results": [_result_json(rep, r, filename) for r in rep.results],
    }


def json_text(rep: Report, filename: str) -> str:
    return json.dumps(to_json(rep, filename), indent=2, default=str) + "\n"
