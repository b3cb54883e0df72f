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


def check_bound(pf: PropsFile, obj: bytes, where: str) -> None:
    """The properties were compiled with this object (else they may name other things)."""
    if pf.object_sha256 != digest(obj):
        raise PropsError(f"{where}: compiled with another object (sha256 "
                         f"{pf.object_sha256[:16]}, the object's is {digest(obj)[:16]}): "
                         "recompile the program")
