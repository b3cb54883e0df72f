"""`rmtc dump`: an object's schemas and its disassembly annotated with source lines."""
from __future__ import annotations

import os
from typing import Any, Optional

from rmt.contract import objfile as O
from rmt.compiler.asm import disasm_insn
from rmt.compiler.cost import insn_cost, model_cost, table_cost
from rmt.contract.objformat import MODE_SHADOW, GuardKind


def _type(bits: int, signed: bool) -> str:
    return ("i" if signed else "u") + str(bits)


def to_json(prog: O.Program) -> dict[str, Any]:
    """A stable JSON view of the object (the schema of `rmtc dump --json`)."""
    return {
        "name": prog.name,
        "hook": prog.hook.name,
        "mode": "shadow" if prog.mode == MODE_SHADOW else "enforce",
        "scratch_size": prog.scratch_size,
        "tables": [{
            "id": i, "name": t.name, "size": t.max_entries, "param_size": t.param_size,
            "cost": table_cost(t),
            "keys": [{"name": k.name, "match": k.kind.name.lower(), "bits": k.bits} for k in t.keys],
            "actions": [{"name": a.name, "params": [
                {"name": p.name, "type": _type(p.bits, p.signed), "offset": p.offset}
                for p in a.params]} for a in t.actions],
            "default_action": t.actions[t.default_action].name,
            "default_params": t.default_params.hex(),
        } for i, t in enumerate(prog.tables)],
        "models": [{
            "id": i, "name": m.name, "kind": m.kind.name.lower(), "in": m.n_in, "out": m.n_out,
            "weight_bits": m.weight_bits, "max_weight": m.max_abs_weight,
            "input": [m.in_lo, m.in_hi], "trees": m.trees,
            "depth": m.depth, "cost": model_cost(m),
            "layers": [{"kind": ly.kind.name.lower(), "act": ly.act.name.lower(),
                        "in": ly.n_in, "out": ly.n_out, "in_ch": ly.in_ch, "out_ch": ly.out_ch,
                        "kernel": ly.kernel} for ly in m.layers],
        } for i, m in enumerate(prog.models)],
        "maps": [{"id": i, "name": m.name, "kind": m.kind.name.lower(), "key_bits": m.key_bits,
                  "value_bits": m.value_bits, "size": m.max_entries, "percpu": m.percpu,
                  "private": m.private}
                 for i, m in enumerate(prog.maps)],
        "traces": [{"id": i, "name": t.name,
                    "fields": [{"name": f.name, "type": _type(f.bits, f.signed)} for f in t.fields]}
                   for i, t in enumerate(prog.traces)],
        "guards": [{"kind": g.kind.name.lower(), "a": g.a, "b": g.b, "c": g.c} for g in prog.guards],
        "code": [{"pc": pc, "insn": i.encode().hex(), "text": disasm_insn(i),
                  "cost": insn_cost(prog, i), "loc": _loc(prog.location(pc))}
                 for pc, i in enumerate(prog.code)],
    }


def _loc(loc: Optional[O.SrcLoc]) -> Optional[str]:
    return f"{loc.file}:{loc.line}:{loc.col}" if loc else None


def _read_source(path: str, cache: dict[str, Optional[list[str]]]) -> Optional[list[str]]:
    if path not in cache:
        try:
            with open(path, encoding="utf-8") as f:
                cache[path] = f.read().splitlines()
        except OSError:
            cache[path] = None
    return cache[path]


def to_text(prog: O.Program, source_dir: Optional[str] = None) -> str:
    """Human-readable dump: header, schemas, then code with source lines interleaved."""
    j = to_json(prog)
    out = [f"program {j['name']}  hook {j['hook']}  mode {j['mode']}  "
           f"{len(prog.code)} insns  scratch {prog.scratch_size} B"]
    for t in j["tables"]:
        keys = ", ".join(f"{k['name']}:{k['match']}/{k['bits']}" for k in t["keys"])
        acts = ", ".join(a["name"] + "(" + ", ".join(f"{p['name']}: {p['type']}"
                                                     for p in a["params"]) + ")"
                         for a in t["actions"])
        out.append(f"table t{t['id']} {t['name']}  size {t['size']}  keys [{keys}]  "
                   f"actions [{acts}]  default {t['default_action']}  cost {t['cost']}")
    for m in j["models"]:
        shape = " -> ".join(f"{ly['kind']}({ly['out']}{', relu' if ly['act'] == 'relu' else ''})"
                            for ly in m["layers"])
        extra = shape or f"trees {max(m['trees'], 1)} depth {m['depth']}"
        out.append(f"model m{m['id']} {m['name']}  {m['kind']} in {m['in']} out {m['out']}  "
                   f"i{m['weight_bits']} weights  input {m['input'][0]}..{m['input'][1]}  "
                   f"{extra}  cost {m['cost']}")
    for m in j["maps"]:
        attrs = "".join(f" {a}" for a in ("percpu", "private") if m[a])
        out.append(f"map map{m['id']} {m['name']}  {m['kind']}{attrs}"
                   f"  key u{m['key_bits']} value u{m['value_bits']}  size {m['size']}")
    for t in j["traces"]:
        out.append(f"trace {t['id']} {t['name']}  (" +
                   ", ".join(f"{f['name']}: {f['type']}" for f in t["fields"]) + ")")
    for g in prog.guards:
        if g.kind == GuardKind.ALLOW:
            out.append(f"guard allow {g.a}")
        elif g.kind == GuardKind.TRIPS:
            out.append(f"guard trips counted in map{g.c}")
        else:
            out.append(f"guard max_streak {g.a} limit {g.b} (map{g.c})")
    out.append("")
    cache: dict[str, Optional[list[str]]] = {}
    last_line = None
    for pc, insn in enumerate(prog.code):
        loc = prog.location(pc)
        if loc and (loc.file, loc.line) != last_line:
            last_line = (loc.file, loc.line)
            path = loc.file if source_dir is None else os.path.join(source_dir,
                                                                    os.path.basename(loc.file))
            lines = _read_source(path, cache)
            text = lines[loc.line - 1].strip() if lines and loc.line <= len(lines) else ""
            out.append(f"; {loc.file}:{loc.line}: {text}")
        out.append(f"{pc:5d}: {disasm_insn(insn)}")
    return "\n".join(out) + "\n"
