"""The properties file (`prog.rmtp`): a program's declared properties, beside its object.

`rmtc compile prog.rmt` writes prog.rmtb and, when the source declares
properties, prog.rmtp: a JSON document ::

    {"format": "rmt-props/1", "object_sha256": "<hex of prog.rmtb>",
     "source": "prog.rmt",
     "properties": [{"name": ..., "line": L, "col": C, "premise": TERM | null,
                     "conclusion": TERM}, ...]}

with TERMs as rmt_lang/check_props.py resolves them (names of context
fields, tables, actions and models, not indexes, so the file reads on its own).
Properties are not a section of the object: rmt.ko cannot prove them (no Z3
in the kernel) and its loader accepts only the sections it knows, so the
proof runs on the host (`rmtc verify --weights`, `rmtctl model load`), and
the file is bound to its object by the object's digest.  Readers ignore keys
they do not know; anything else malformed is a PropsError naming the file.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

FORMAT = "rmt-props/1"


class PropsError(Exception):
    pass


@dataclass
class PropsFile:
    object_sha256: str
    source: str
    properties: list[dict[str, Any]]


def digest(obj: bytes) -> str:
    return hashlib.sha256(obj).hexdigest()


def dumps(obj: bytes, source: str, properties: list[dict[str, Any]]) -> str:
    return json.dumps({"format": FORMAT, "object_sha256": digest(obj), "source": source,
                       "properties": properties}, indent=1) + "\n"


def loads(text: str, where: str) -> PropsFile:
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PropsError(f"{where}: not a properties file (not JSON: {e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PropsError(f"{where}: not a properties file (format is not {FORMAT!r})")
    props = doc.get("properties")
    sha = doc.get("object_sha256")
    if not isinstance(props, list) or not isinstance(sha, str):
        raise PropsError(f"{where}: 'properties' must be a list and 'object_sha256' a string")
    for i, p in enumerate(props):
        if not (isinstance(p, dict) and isinstance(p.get("name"), str)
                and isinstance(p.get("line"), int) and isinstance(p.get("col"), int)
                and isinstance(p.get("conclusion"), list)
                and (p.get("premise") is None or isinstance(p.get("premise"), list))):
            raise PropsError(f"{where}: property {i}: needs name, line, col, premise, "
                             "conclusion")
    return PropsFile(sha, str(doc.get("source", "?")), props)


_BINARY = ("+", "-", "*", "==", "!=", "<", "<=", ">", ">=", "&&", "||")


def check_terms(pf: PropsFile, prog: Any, where: str) -> None:
    """Every term is one rmt_lang/check_props.py writes, naming what `prog` (a
    contract.objfile.Program) has: a file edited by hand or damaged is refused here, where
    it is read, not at the first proof."""
    models = {m.name: m for m in prog.models}
    tables = {t.name: t for t in prog.tables}

    def bad(why: str) -> PropsError:
        return PropsError(f"{where}: property {name!r}: {why}")

    def field(f: Any, i: Any) -> None:
        fd = prog.hook.field(f) if isinstance(f, str) else None
        if fd is None or not isinstance(i, int) or isinstance(i, bool):
            raise bad(f"no context field {f!r}")
        if not (i == -1 if fd.count == 1 else 0 <= i < fd.count):
            raise bad(f"ctx.{f} index {i}: out of range (the field has {fd.count})")

    def term(t: Any) -> None:
        if not isinstance(t, list) or not t or not isinstance(t[0], str):
            raise bad(f"{json.dumps(t)[:60]} is not a term")
        op, args = t[0], t[1:]
        shape = {"int": 1, "ctx": 2, "decision": 0, "out": 2, "action": 3, "not": 1, "neg": 1,
                 "mono": 4, **{o: 2 for o in _BINARY}}
        if op not in shape or len(args) != shape[op]:
            raise bad(f"{json.dumps(t)[:60]}: unknown operator or wrong number of operands")
        if op == "int":
            if not isinstance(args[0], int):
                raise bad(f"{json.dumps(t)[:60]}: not an integer")
        elif op == "ctx":
            field(*args)
        elif op == "out":
            m = models.get(args[0])
            if m is None or not isinstance(args[1], int) or not 0 <= args[1] < m.n_out:
                raise bad(f"no output {args[1]!r} of a model {args[0]!r}")
        elif op == "action":
            tb = tables.get(args[0])
            acts = {a.name: a for a in tb.actions} if tb is not None else {}
            if args[1] not in acts:
                raise bad(f"no action {args[1]!r} of a table {args[0]!r}")
            if args[2] is not None and (not isinstance(args[2], list) or
                                        len(args[2]) != len(acts[args[1]].params) or
                                        not all(isinstance(v, int) for v in args[2])):
                raise bad(f"{args[0]} == {args[1]}: wrong arguments {args[2]!r}")
        elif op == "mono":
            if args[0] not in ("nondecreasing", "nonincreasing"):
                raise bad(f"{args[0]!r} is not nondecreasing or nonincreasing")
            term(args[1])
            field(args[2], args[3])
        else:
            for a in args:
                term(a)

    for p in pf.properties:
        name = p["name"]
        if p.get("premise") is not None:
            term(p["premise"])
        term(p["conclusion"])


def check_bound(pf: PropsFile, obj: bytes, where: str) -> None:
    """The properties were compiled with this object (else they may name other things)."""
    if pf.object_sha256 != digest(obj):
        raise PropsError(f"{where}: compiled with another object (sha256 "
                         f"{pf.object_sha256[:16]}, the object's is {digest(obj)[:16]}): "
                         "recompile the program")
