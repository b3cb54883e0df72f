"""rmtctl: the control plane for inserted RMT programs.

    rmtctl [--target sim|kernel] [--json] COMMAND ...
      insert PROG.rmtb [--force]          verify, then insert; prints the program id
      remove ID | list | show ID
      table add|mod ID TABLE MATCH... action NAME [ARG...] [priority N]
      table del ID TABLE MATCH... [priority N]
      table dump ID TABLE
      model load ID MODEL FILE | model show ID
      map dump ID MAP
      stats ID
      trace ID [-o FILE] [--keep]
      prog run ID --ctx CTX.json [--repeat N] [--cpu N] [--kernel-decision N]

MATCH is `v` (exact), `v/len` (lpm), `v&&&mask` (ternary), `lo..hi` (range) or
`*`. TABLE, MODEL and MAP are names or indexes. Exit codes: 0 ok, 1 refused or
failed, 2 usage.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from compiler import objfile
from compiler.isa import Abort
from rmt_lang.hooks import DEFAULT_DECISION
from rmtctl.sim import ProgInfo, SimTarget, TargetError
from semantics import codec
from semantics.engine import Entry, Stats


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        print(f"rmtctl: error: {message}", file=sys.stderr)
        sys.exit(2)


def _out(args: argparse.Namespace, obj: Any, text: str) -> None:
    print(json.dumps(obj, indent=2) if args.json else text)


def _index(names: list[str], tok: str, what: str) -> int:
    if tok in names:
        return names.index(tok)
    if tok.isdigit() and int(tok) < len(names):
        return int(tok)
    raise UsageError(f"no {what} {tok!r} (have: {', '.join(names) or 'none'})")


def _decision_name(prog: objfile.Program, d: int) -> str:
    if d == DEFAULT_DECISION:
        return "DEFAULT"
    names = {v: k for k, v in prog.hook.decision.names.items()}
    return names.get(d, str(d))


def make_target(args: argparse.Namespace):
    if args.target == "kernel":
        try:
            from rmtctl.kernel import KernelTarget
        except ImportError as e:
            raise TargetError(f"the kernel target is not available: {e}") from None
        return KernelTarget()
    factory = None
    if args.engine == "ref":
        from semantics.reference import ReferenceEngine
        factory = ReferenceEngine
    return SimTarget(Path(args.state) if args.state else None, factory)


# ------------------------------------------------------------ programs

def verify_object(blob: bytes, name: str) -> tuple[bool, str]:
    """(accepted, report text) from the Z3 verifier; not accepted when it cannot run."""
    try:
        from verifier import verify_bytes
        from verifier.report import text
    except ImportError as e:
        return False, f"rmtctl: the verifier is not available ({e})\n"
    report = verify_bytes(blob)
    return report.accepted, text(report, name)


def cmd_insert(args, target) -> int:
    try:
        blob = Path(args.object).read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {args.object}: {e}") from None
    try:
        ok, report = verify_object(blob, args.object)
    except objfile.ObjError as e:
        raise TargetError(f"{args.object}: malformed object: {e}") from None
    if not ok and not args.force:
        sys.stderr.write(report)
        print(f"rmtctl: {args.object}: rejected by the verifier; not inserted "
              f"(--force inserts it anyway; the kernel-side validator still applies)",
              file=sys.stderr)
        return 1
    # --jit/--no-jit: which C VM engine runs it (default: the JIT where supported).
    info = target.insert(blob, "accepted" if ok else "forced", jit=args.jit)
    _out(args, dataclasses.asdict(info), f"{info.id}")
    return 0


def _info_text(i: ProgInfo) -> str:
    engine = {None: "default", True: "jit", False: "interpreter"}[i.jit]
    return (f"{i.id}: {i.name}  hook {i.hook}  mode {i.mode}  {i.ninsns} insns  "
            f"sha256 {i.sha256}  verifier {i.verdict}  engine {engine}")


def cmd_list(args, target) -> int:
    infos = target.list()
    _out(args, [dataclasses.asdict(i) for i in infos], "\n".join(_info_text(i) for i in infos))
    return 0


def cmd_show(args, target) -> int:
    from compiler.dump import to_json
    info, prog = target.program(args.id)
    j = dataclasses.asdict(info)
    schema = to_json(prog)
    j.update({k: schema[k] for k in ("tables", "models", "maps", "traces", "guards")})
    lines = [_info_text(info)]
    lines += [f"  table {t['id']} {t['name']}: keys " +
              ", ".join(f"{k['name']}:{k['match']}" for k in t["keys"]) + "; actions " +
              ", ".join(a["name"] for a in t["actions"]) for t in schema["tables"]]
    lines += [f"  model {m['id']} {m['name']}: {m['kind']} {m['in']} -> {m['out']}"
              for m in schema["models"]]
    lines += [f"  map {m['id']} {m['name']}: {m['kind']}[{m['size']}]" for m in schema["maps"]]
    _out(args, j, "\n".join(lines))
    return 0


def cmd_remove(args, target) -> int:
    target.remove(args.id)
    return 0


# ------------------------------------------------------------ tables

def _split_entry(tokens: list[str], need_action: bool) -> tuple[list[str], str | None,
                                                                list[int], int]:
    matches, action, argv, prio = [], None, [], 0
    i = 0
    while i < len(tokens) and tokens[i] not in ("action", "priority"):
        matches.append(tokens[i])
        i += 1
    if i < len(tokens) and tokens[i] == "action":
        if i + 1 >= len(tokens):
            raise UsageError("`action` needs a name")
        action = tokens[i + 1]
        i += 2
        while i < len(tokens) and tokens[i] != "priority":
            try:
                argv.append(int(tokens[i], 0))
            except ValueError:
                raise UsageError(f"action argument {tokens[i]!r} is not a number") from None
            i += 1
    if i < len(tokens) and tokens[i] == "priority":
        if i + 2 != len(tokens):
            raise UsageError("`priority N` must come last")
        try:
            prio = int(tokens[i + 1], 0)
        except ValueError:
            raise UsageError(f"priority {tokens[i + 1]!r} is not a number") from None
    if need_action and action is None:
        raise UsageError("missing `action NAME [ARG...]`")
    if not matches:
        raise UsageError("missing the match fields")
    return matches, action, argv, prio


def cmd_table(args, target) -> int:
    _, prog = target.program(args.id)
    t = _index([t.name for t in prog.tables], args.table, "table")
    table = prog.tables[t]
    if args.op == "dump":
        states = target.table_dump(args.id, t)
        rows = []
        for s in states:
            act = table.actions[s.entry.action]
            rows.append({"match": [codec.format_match(m) for m in s.entry.match],
                         "action": act.name, "args": codec.unpack_params(act, s.entry.params),
                         "priority": s.entry.priority, "hits": s.hits})
        text = "\n".join(" ".join(r["match"]) + f" -> {r['action']}(" +
                         ", ".join(map(str, r["args"])) + ")" +
                         (f" priority {r['priority']}" if r["priority"] else "") +
                         f"  hits {r['hits']}" for r in rows)
        _out(args, rows, text or f"(table {table.name} is empty)")
        return 0
    matches, action, argv, prio = _split_entry(args.entry, args.op != "del")
    try:
        match = codec.parse_matches(table, matches)
        if args.op == "del":
            target.table_delete(args.id, t, match, prio)
            return 0
        a = _index([a.name for a in table.actions], action, f"action of table {table.name}")
        params = codec.pack_params(table.actions[a], argv)
    except ValueError as e:
        raise UsageError(str(e)) from None
    target.table_write(args.id, t, Entry(match, a, params, prio), modify=args.op == "mod")
    return 0


# ------------------------------------------------------------ models, maps

def cmd_model(args, target) -> int:
    _, prog = target.program(args.id)
    if args.op == "show":
        info = target.model_info(args.id)
        rows = [{"id": i, "name": m.name, "kind": m.kind.name.lower(), "in": m.n_in,
                 "out": m.n_out, "loaded": i in info, **info.get(i, {})}
                for i, m in enumerate(prog.models)]
        _out(args, rows, "\n".join(
            f"{r['id']}: {r['name']} {r['kind']} {r['in']}->{r['out']}  " +
            (f"version {r['version']} ({r['bytes']} bytes)" if r["loaded"] else "no weights")
            for r in rows))
        return 0
    m = _index([m.name for m in prog.models], args.model, "model")
    try:
        blob = Path(args.file).read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {args.file}: {e}") from None
    version = target.model_load(args.id, m, blob)
    _out(args, {"model": prog.models[m].name, "version": version},
         f"{prog.models[m].name}: version {version}")
    return 0


def cmd_map(args, target) -> int:
    _, prog = target.program(args.id)
    m = _index([m.name for m in prog.maps], args.map, "map")
    values = target.map_dump(args.id, m)
    _out(args, {str(k): v for k, v in sorted(values.items())},
         "\n".join(f"{k}: {v}" for k, v in sorted(values.items())) or "(empty)")
    return 0


# ------------------------------------------------------------ counters, traces, runs

def stats_json(prog: objfile.Program, s: Stats) -> dict[str, Any]:
    j = dataclasses.asdict(s)
    j["aborts"] = {Abort(k).name: v for k, v in s.aborts.items()}
    j["decisions"] = {_decision_name(prog, k): v for k, v in sorted(s.decisions.items())}
    return j


def cmd_stats(args, target) -> int:
    _, prog = target.program(args.id)
    j = stats_json(prog, target.stats(args.id))
    if hasattr(target, "engine"):                     # the kernel target: JIT or interpreter
        j["engine"] = target.engine(args.id)
    if hasattr(target, "hook_stats"):                 # the kernel target: the probe's counters
        hook = target.hook_stats(args.id)
        if hook is not None:
            j["hook"] = hook
    lines = [f"{k}: {v}" for k, v in j.items()]
    _out(args, j, "\n".join(lines))
    return 0


def trace_json(prog: objfile.Program, rec) -> dict[str, Any]:
    fmt = prog.traces[rec.fmt]
    return {"prog": prog.name, "fmt": fmt.name, "cpu": rec.cpu, "ts": rec.ts,
            "fields": {f.name: codec.decode_value(v, f.bits, f.signed)
                       for f, v in zip(fmt.fields, rec.values)}}


def cmd_trace(args, target) -> int:
    _, prog = target.program(args.id)
    recs = [trace_json(prog, r) for r in target.trace(args.id, drain=not args.keep)]
    text = "".join(json.dumps(r) + "\n" for r in recs)
    if args.output:
        with open(args.output, "a") as f:
            f.write(text)
        print(f"{len(recs)} records -> {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_run(args, target) -> int:
    _, prog = target.program(args.id)
    try:
        spec = json.loads(Path(args.ctx).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"cannot read context {args.ctx}: {e}") from None
    cpu, now = spec.pop("cpu", args.cpu), spec.pop("now", 0)
    try:
        ctx = codec.ctx_encode(prog.hook, spec)
    except ValueError as e:
        raise UsageError(f"{args.ctx}: {e}") from None
    kd = args.kernel_decision
    if kd is None and prog.hook.field("kernel_verdict") is not None:
        kd = spec.get("kernel_verdict")
    results = target.run(args.id, [(ctx, cpu, now)] * args.repeat, kd)
    r = results[-1]
    writable = [f.name for f in prog.hook.fields if f.access.value == "rw"]
    j = {"decision": r.decision, "decision_name": _decision_name(prog, r.decision),
         "abort": Abort(r.abort).name if r.abort else None, "abort_pc": r.abort_pc,
         "runs": len(results), "ctx": codec.ctx_decode(prog.hook, r.ctx, writable)}
    loc = prog.location(r.abort_pc) if r.abort else None
    text = f"decision {j['decision_name']}"
    if r.abort:
        text += f" (aborted: {j['abort']} at pc {r.abort_pc}" + \
            (f", {loc.file}:{loc.line}:{loc.col})" if loc else ")")
    if writable and r.decision != DEFAULT_DECISION:
        text += "\n" + "\n".join(f"ctx.{k} = {v}" for k, v in j["ctx"].items())
    _out(args, j, text)
    return 0


# ------------------------------------------------------------ main

def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rmtctl", description="Control inserted RMT programs.")
    p.add_argument("--target", choices=("sim", "kernel"), default="sim")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--state", help="sim state directory (default $RMT_SIM_STATE or "
                                   "~/.local/state/rmt/sim)")
    p.add_argument("--engine", choices=("c", "ref"), default="c",
                   help="sim engine: the C VM (default) or the Python reference semantics")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    s = sub.add_parser("insert")
    s.add_argument("object")
    s.add_argument("--force", action="store_true", help="insert even if the verifier rejects")
    s.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                   help="run as x86-64 JIT code (default where supported) or, with --no-jit, "
                        "on the interpreter")
    s.set_defaults(fn=cmd_insert)
    for name, fn in (("remove", cmd_remove), ("show", cmd_show), ("stats", cmd_stats)):
        s = sub.add_parser(name)
        s.add_argument("id", type=int)
        s.set_defaults(fn=fn)
    sub.add_parser("list").set_defaults(fn=cmd_list)
    t = sub.add_parser("table")
    t.add_argument("op", choices=("add", "mod", "del", "dump"))
    t.add_argument("id", type=int)
    t.add_argument("table")
    t.add_argument("entry", nargs=argparse.REMAINDER)
    t.set_defaults(fn=cmd_table)
    m = sub.add_parser("model")
    m.add_argument("op", choices=("load", "show"))
    m.add_argument("id", type=int)
    m.add_argument("model", nargs="?")
    m.add_argument("file", nargs="?")
    m.set_defaults(fn=cmd_model)
    mp = sub.add_parser("map")
    mp.add_argument("op", choices=("dump",))
    mp.add_argument("id", type=int)
    mp.add_argument("map")
    mp.set_defaults(fn=cmd_map)
    tr = sub.add_parser("trace")
    tr.add_argument("id", type=int)
    tr.add_argument("-o", "--output")
    tr.add_argument("--keep", action="store_true", help="do not drain the records")
    tr.set_defaults(fn=cmd_trace)
    pr = sub.add_parser("prog")
    pr.add_argument("op", choices=("run",))
    pr.add_argument("id", type=int)
    pr.add_argument("--ctx", required=True)
    pr.add_argument("--repeat", type=int, default=1)
    pr.add_argument("--cpu", type=int, default=0)
    pr.add_argument("--kernel-decision", type=int)
    pr.set_defaults(fn=cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if args.cmd == "model" and args.op == "load" and not (args.model and args.file):
        p.error("model load needs ID MODEL FILE")
    try:
        return args.fn(args, make_target(args))
    except UsageError as e:
        print(f"rmtctl: {e}", file=sys.stderr)
        return 2
    except TargetError as e:
        print(f"rmtctl: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
