# PYTHON_ARGCOMPLETE_OK
"""rmtctl: the control plane for inserted RMT programs (bpftool's conventions).

    rmtctl [OPTIONS] COMMAND ...      options go anywhere: -j/--json, -p/--pretty,
                                      -V/--version, --target sim|kernel, --state DIR,
                                      --engine c|ref
      insert PROG.rmtb [--force] [--rlimit N] [--weights MODEL=FILE]... [--jit|--no-jit]
      remove PROG [--force] | list | show PROG | stats PROG
      table add|mod PROG TABLE MATCH... action NAME [ARG...] [priority N]
      table add PROG TABLE -f FILE         one entry (MATCH... action ...) per line
      table del PROG TABLE MATCH... [priority N] | table dump PROG TABLE | table clear PROG TABLE
      model load|stage PROG MODEL FILE [--timeout S] [--no-prove] | model show PROG
      model promote|rollback [--timeout S] [--no-prove] PROG MODEL
      model unstage|history PROG MODEL
      model refresh|loop PROG MODEL --train CMD --traces FILE [--min-runs N]
          [--min-agreement F | --label FIELD --score FIELD [--output K] [--min-accuracy F]
          [--margin F]] [--max-trips N] [--every S] [--rounds N]      (--every, --rounds: loop)
      map dump PROG MAP
      trace PROG [-o FILE] [--keep]
      prog run PROG --ctx CTX [--repeat N] [--cpu N] [--kernel-decision N]
      batch FILE                           one command per line; all or nothing on the sim
      help | COMMAND help

PROG is an id, `id ID` or `name NAME`.  MATCH is `v` (exact), `v/len` (lpm),
`v&&&mask` (ternary), `lo..hi` (range) or `*`.  TABLE, MODEL and MAP are names
or indexes.  Exit codes: 0 ok, 1 refused or failed, 2 usage, 130 interrupted.
"""
from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import shlex
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterator

from rmt.contract import objfile
from rmt.contract.isa import Abort
from rmt.contract.hooks import DEFAULT_DECISION
from rmt.ctl import p4rules, props
from rmt.contract import propfile
from rmt.contract.propfile import PropsError
from rmt.semantics.tables import PRIORITY_MAX
from rmt.ctl.sim import ProgInfo, SimTarget, TargetError
from rmt.verifier.cli import seconds
from rmt.contract import codec
from rmt.contract.engine import CANDIDATE_TRACE_FMT, CANDIDATE_TRACE_OUTPUTS, EngineError, Entry, Stats

DEVICE = "/dev/rmt"
PROG_ID_MAX = (1 << 32) - 1        # program ids are u32 (vm_kernel/uapi/rmt.h)
REPEAT_MAX = 1_000_000             # `prog run --repeat`: the runs' results are all kept
# commands and where their program argument sits (index in the command's own words)
_PROG_AT = {"remove": 1, "show": 1, "stats": 1, "trace": 1,
            "table": 2, "model": 2, "map": 2, "prog": 2}


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageError(f"{message} (see `{self.prog} help`)")


@dataclasses.dataclass
class Globals:
    """Options accepted anywhere on the command line, as bpftool's getopt does."""
    json: bool = False
    pretty: bool = False
    version: bool = False
    target: str | None = None
    state: str | None = None
    engine: str = "c"


_FLAGS = {"-j": "json", "--json": "json", "-p": "pretty", "--pretty": "pretty",
          "-V": "version", "--version": "version"}
_VALUED = {"--target": "target", "--state": "state", "--engine": "engine"}


def split_globals(argv: list[str]) -> tuple[Globals, list[str]]:
    """Pull the global options out of argv wherever they are (up to a literal `--`)."""
    g, rest, i = Globals(), [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest += argv[i:]
            break
        name, _, val = a.partition("=")
        if a in _FLAGS:
            setattr(g, _FLAGS[a], True)
        elif name in _VALUED:
            if not val:
                if i + 1 >= len(argv):
                    raise UsageError(f"{name} needs a value")
                i += 1
                val = argv[i]
            setattr(g, _VALUED[name], val)
        else:
            rest.append(a)
        i += 1
    if g.pretty:
        g.json = True
    if g.target not in (None, "sim", "kernel"):
        raise UsageError(f"--target {g.target!r}: choose sim or kernel")
    if g.engine not in ("c", "ref"):
        raise UsageError(f"--engine {g.engine!r}: choose c or ref")
    return g, rest


def _out(args: argparse.Namespace, obj: Any, text: str) -> None:
    if args.json:
        print(json.dumps(obj, indent=2 if args.pretty else None))
    elif text:
        print(text)


def _index(names: list[str], tok: str | None, what: str) -> int:
    if tok is None:
        raise UsageError(f"missing the {what}")
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


def choose_target(g: Globals) -> tuple[str, str | None]:
    """(target, why): why is the line to print when nothing the user set chose it.
    The rule: --target; else sim when --state is given; else $RMT_TARGET; else sim when
    $RMT_SIM_STATE is set; else kernel when /dev/rmt exists; else sim."""
    if g.target:
        return g.target, None
    if g.state:
        return "sim", None
    env = os.environ.get("RMT_TARGET")
    if env in ("sim", "kernel"):
        return env, None
    if os.environ.get("RMT_SIM_STATE"):
        return "sim", None
    if os.path.exists(DEVICE):
        return "kernel", f"target kernel ({DEVICE} exists; --target sim for the simulator)"
    return "sim", "target sim (no {DEVICE}; state {state})"


def make_target(g: Globals):
    name, why = choose_target(g)
    if name == "kernel":
        try:
            from rmt.ctl.kernel import KernelTarget
        except ImportError as e:
            raise TargetError(f"the kernel target is not available: {e}") from None
        t = KernelTarget()
    else:
        factory = None
        if g.engine == "ref":
            from rmt.semantics.reference import ReferenceEngine
            factory = ReferenceEngine
        t = SimTarget(Path(g.state) if g.state else None, factory)
    if why:
        print(f"rmtctl: {why.format(DEVICE=DEVICE, state=getattr(t, 'dir', ''))}",
              file=sys.stderr)
    return t


# ------------------------------------------------------------ progress, interrupts

@contextmanager
def progress(what: str) -> Iterator[dict[str, Any]]:
    """A one-line elapsed-time (and count) display on stderr while `what` runs, only
    when stderr is a terminal; the line is erased at the end."""
    state: dict[str, Any] = {"done": None, "total": None}
    if not sys.stderr.isatty():
        yield state
        return
    stop = threading.Event()
    t0 = time.monotonic()

    def show() -> None:
        while not stop.wait(0.5):
            n = "" if state["done"] is None else f" {state['done']}/{state['total']}"
            sys.stderr.write(f"\r{what}{n} ... {time.monotonic() - t0:.0f} s\x1b[K")
            sys.stderr.flush()
    th = threading.Thread(target=show, daemon=True)
    th.start()
    try:
        yield state
    finally:
        stop.set()
        th.join()
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


_interrupted = False


def _on_sigint(signum: int, frame: Any) -> None:
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


# ------------------------------------------------------------ programs

def verify_object(blob: bytes, name: str, opts: Any = None) -> tuple[bool, str]:
    """(accepted, report text) from the Z3 verifier; not accepted when it cannot run."""
    try:
        from rmt.verifier import verify_bytes
        from rmt.verifier.report import text
    except ImportError as e:
        return False, f"rmtctl: the verifier is not available ({e})\n"
    report = verify_bytes(blob, opts) if opts is not None else verify_bytes(blob)
    return report.accepted, text(report, name)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {what} {path}: {e.strerror or e}") from None


def cmd_insert(args, target) -> int:
    blob = _read(args.object, "object")
    # the declared properties (prog.rmtp beside the object, or --props) are kept on the host,
    # by the object's digest, for every later `model load` to prove (rmtctl/props.py)
    props_path = Path(args.props) if args.props else Path(args.object).with_suffix(".rmtp")
    text = None
    if args.props or props_path.exists():
        try:
            text, n = props.read(blob, props_path)
        except PropsError as e:
            raise TargetError(f"{e}; not inserted") from None
        except objfile.ObjError as e:
            raise TargetError(f"{args.object}: malformed object: {e}") from None
    # a program without models: no `model load` will ever prove them, so the verifier does
    # (no weights can change their truth), as `rmtc verify` does
    no_models = text is not None and not objfile.read(blob).models
    opts = None
    if args.rlimit is not None or args.weights or no_models:
        from rmt.verifier.verify import VerifyOptions
        weights = {}
        for spec in args.weights:
            name, eq, path = spec.partition("=")
            if not eq or not name or not path:
                raise UsageError(f"--weights expects MODEL=FILE, got {spec!r}")
            weights[name] = _read(path, "weights")
        opts = VerifyOptions(weights=weights, properties=(
            propfile.loads(text, str(props_path)).properties if no_models else None))
        if args.rlimit is not None:
            if args.rlimit < 1:
                raise UsageError(f"--rlimit {args.rlimit}: must be >= 1")
            opts.rlimit = args.rlimit
    try:
        with progress(f"verifying {args.object}"):
            ok, report = verify_object(blob, args.object, opts) if opts is not None \
                else verify_object(blob, args.object)
    except objfile.ObjError as e:
        raise TargetError(f"{args.object}: malformed object: {e}") from None
    if _interrupted:                     # Z3 may turn Ctrl-C into "unknown": never a verdict
        raise KeyboardInterrupt
    if not ok and not args.force:
        sys.stderr.write(report)
        raise TargetError(f"{args.object}: rejected by the verifier; not inserted "
                          f"(--force inserts it anyway; the kernel-side validator still applies)")
    # --jit/--no-jit: which C VM engine runs it (default: the JIT where supported).
    info = target.insert(blob, "accepted" if ok else "forced", jit=args.jit)
    props.keep(target, props.key(info.id, info.sha256), text)
    if ok and opts is not None:          # the proof assumed these weights' bounds: kept
        for name, wblob in opts.weights.items():
            props.assume(target, props.key(info.id, info.sha256), name, wblob)
    if no_models:
        print(f"{n} properties {'proved' if ok else 'not proved (--force)'} ({props_path})",
              file=sys.stderr)
    elif text is not None:
        print(f"{n} properties kept for `model load` ({props_path})", file=sys.stderr)
    _out(args, dataclasses.asdict(info), f"{info.id}")
    return 0


def _info_text(i: ProgInfo) -> str:
    engine = {None: "default", True: "jit", False: "interpreter"}[i.jit]
    return (f"{i.id}: {i.name}  hook {i.hook}  mode {i.mode}  {i.ninsns} insns  "
            f"sha256 {i.sha256}  verifier {i.verdict}  engine {engine}")


def resolve_prog(target, ref: str) -> int:
    """A program reference: `ID`, `id:ID` or `name:NAME` (from `id ID` / `name NAME`)."""
    kind, _, val = ref.partition(":") if ":" in ref else ("id", "", ref)
    if kind == "id":
        if not val.isdigit():
            raise UsageError(f"program {val!r}: give an id, `id ID` or `name NAME`")
        if int(val) > PROG_ID_MAX:       # ids are u32 (uapi/rmt.h); the sim's SQLite overflows
            raise TargetError(f"no program with id {val} (see `rmtctl list`)")
        return int(val)
    ids = [i.id for i in target.list() if i.name == val]
    if not ids:
        raise TargetError(f"no program named {val!r} (see `rmtctl list`)")
    if len(ids) > 1:
        raise UsageError(f"{len(ids)} programs are named {val!r} (ids "
                         f"{', '.join(map(str, ids))}): give an id")
    return ids[0]


def cmd_list(args, target) -> int:
    infos = target.list()
    _out(args, [dataclasses.asdict(i) for i in infos], "\n".join(_info_text(i) for i in infos))
    return 0


def cmd_show(args, target) -> int:
    from rmt.compiler.dump import to_json
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
    hook = target.hook_stats(args.id) if hasattr(target, "hook_stats") else None
    if hook and hook.get("prefetch"):                 # mm.swap_fault in rmt.ko: how it acts
        j["prefetch_mechanism"] = hook["prefetch"]["mechanism"]
        lines.append(f"  attached to {prog.hook.name}: prefetch mechanism "
                     f"{j['prefetch_mechanism']}")
    _out(args, j, "\n".join(lines))
    return 0


def cmd_remove(args, target) -> int:
    try:
        info, _ = target.program(args.id)
        k = props.key(info.id, info.sha256)
    except (TargetError, EngineError, OSError):
        k = None                        # a broken program (remove --force): nothing to find
    if isinstance(target, SimTarget):
        target.remove(args.id, force=args.force)
    else:
        target.remove(args.id)
    if k is not None:
        props.forget(target, k)
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
        if not 0 <= prio <= PRIORITY_MAX:    # before the target: the sim's SQLite overflows
            raise UsageError(f"priority {prio} is outside 0..{PRIORITY_MAX}")
    if need_action and action is None:
        raise UsageError("missing `action NAME [ARG...]`")
    if not matches:
        raise UsageError("missing the match fields")
    return matches, action, argv, prio


def _entry(table: objfile.Table, tokens: list[str]) -> Entry:
    matches, action, argv, prio = _split_entry(tokens, True)
    try:
        match = codec.parse_matches(table, matches)
        p4rules.check_entry(table, match, prio)
        a = _index([a.name for a in table.actions], action, f"action of table {table.name}")
        return Entry(match, a, codec.pack_params(table.actions[a], argv), prio)
    except ValueError as e:
        raise UsageError(str(e)) from None


def parse_entry(table: objfile.Table, line: str) -> Entry:
    """The entry of one `rmtctl table add PROG TABLE ...` line, given what follows TABLE
    (`MATCH... action NAME [ARG...] [priority N]`); raises UsageError (one line)."""
    return _entry(table, line.split())


def _warn_overlaps(target, pid: int, t: int, table: objfile.Table, entry: Entry) -> None:
    if hasattr(target, "table_entries_at"):
        existing = target.table_entries_at(pid, t, entry.priority)
    else:
        existing = [s.entry for s in target.table_dump(pid, t)]
    for e in p4rules.overlapping(table, entry, existing):
        print(f"rmtctl: warning: table {table.name}: the entry overlaps "
              f"{' '.join(codec.format_match(m) for m in e.match)} at the same priority "
              f"{e.priority}; the one inserted first wins where both match", file=sys.stderr)


def _entry_lines(path: str) -> list[tuple[int, list[str]]]:
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not any(c in line for c in "\"'\\"):         # the common case, without shlex's cost
            toks = line.split("#", 1)[0].split()
            if toks:
                out.append((n, toks))
            continue
        try:
            toks = shlex.split(line, comments=True)
        except ValueError as e:
            raise UsageError(f"{path}:{n}: {e}") from None
        if toks:
            out.append((n, toks))
    return out


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
    if args.op == "clear":
        if args.entry:
            raise UsageError("table clear takes PROG TABLE only")
        if hasattr(target, "table_clear"):
            n = target.table_clear(args.id, t)
        else:
            states = target.table_dump(args.id, t)
            for s in states:
                target.table_delete(args.id, t, s.entry.match, s.entry.priority)
            n = len(states)
        _out(args, {"deleted": n}, f"{n} entries deleted")
        return 0
    if args.entry[:1] in (["-f"], ["--file"]):
        if args.op != "add" or len(args.entry) != 2:
            raise UsageError("table add PROG TABLE -f FILE")
        lines = _entry_lines(args.entry[1])
        with _transaction(target), progress(f"adding {len(lines)} entries") as st:
            st["total"] = len(lines)
            for i, (n, toks) in enumerate(lines):
                st["done"] = i
                _where(target, f"{args.entry[1]}:{n}")
                try:
                    e = _entry(table, toks)
                    if p4rules.is_priority_table(table):
                        _warn_overlaps(target, args.id, t, table, e)
                    target.table_write(args.id, t, e)
                except (UsageError, TargetError) as err:
                    raise type(err)(f"{args.entry[1]}:{n}: {err}; nothing was added") \
                        from None
        _out(args, {"added": len(lines)}, "")
        return 0
    if args.op == "del":
        matches, _, _, prio = _split_entry(args.entry, False)
        try:
            match = codec.parse_matches(table, matches)
        except ValueError as e:
            raise UsageError(str(e)) from None
        target.table_delete(args.id, t, match, prio)
        return 0
    e = _entry(table, args.entry)
    if args.op == "add" and p4rules.is_priority_table(table):
        _warn_overlaps(target, args.id, t, table, e)
    target.table_write(args.id, t, e, modify=args.op == "mod")
    return 0


def _transaction(target):
    """All or nothing: the sim target in one database transaction; the kernel target
    with one RMT_IOC_TABLE_BATCH per table (it refuses other changes inside)."""
    return target.transaction() if hasattr(target, "transaction") else nullcontext()


def _where(target, where: str) -> None:
    """Tell a target that defers updates which input line the next ones come from."""
    if hasattr(target, "where"):
        target.where = where


# ------------------------------------------------------------ models, maps

def _agreement(a: int, d: int) -> str:
    n = a + d
    return f"agreed on {a} of {n} runs ({100 * a / n:.1f}%)" if n else "not evaluated yet"


def _model_show_text(r: dict[str, Any]) -> str:
    text = f"{r['id']}: {r['name']} {r['kind']} {r['in']}->{r['out']}  " + \
        (f"version {r['version']} ({r['bytes']} bytes)" if r.get("version") else "no weights")
    if r.get("candidate"):
        text += (f"; candidate version {r['candidate']} "
                 f"{_agreement(r.get('agree', 0), r.get('disagree', 0))}")
    if r.get("previous"):
        text += f"; rollback restores version {r['previous']}"
    return text


def _prove(args, target, info, prog, m: int, blob: bytes | None, what: str,
           op: str | None = None) -> None:
    """The program's properties proved with `blob` for model m (and the live weights of the
    others) before those weights may act: refuses (TargetError) when one does not hold or
    was not proved in time.  --no-prove skips it, said on stderr and in the props log.
    op: the operation the weights are for (default the command's own, args.op)."""
    op = op or args.op
    name = prog.models[m].name
    # not a property: the safety proof of `insert --weights` (so --no-prove keeps it)
    why = props.assumption_broken(target, _pkey(info), prog, m, blob)
    if why is not None:
        raise TargetError(f"{what}: weights refused: {why}; {name} keeps its current weights "
                          f"(insert the program again with --weights {name}=FILE)")
    if args.no_prove:
        msg = (f"rmtctl: model {op} {info.id} {name} {what}: --no-prove: the program's "
               "properties are NOT proved for these weights")
        print(msg, file=sys.stderr)
        props.log(target, msg)
        return
    if blob is None:
        if props.stored(target, _pkey(info)):
            raise TargetError(f"{what}: its weights did not come through rmtctl on this host, "
                              "so the program's properties cannot be proved for them; not "
                              f"{_DONE[op]} (--no-prove {op}s it anyway)")
        return
    try:
        with progress(f"proving properties for {what}"):
            ok, lines = props.check_weights(target, _pkey(info), prog, m, blob, args.timeout)
    except (PropsError, EngineError) as e:
        raise TargetError(f"{what}: {e}; not {_DONE[op]}") from None
    if _interrupted:
        raise KeyboardInterrupt
    if lines:
        sys.stderr.write("\n".join(lines) + "\n")
    if not ok:
        raise TargetError(f"{what}: weights refused: a property of the program does not hold "
                          f"(or was not proved in time); {name} keeps its current weights")


def _prove_next(args, target, info, prog, m: int) -> dict[str, Any]:
    """Before a promote (rollback): prove the weights it would make live, the staged
    candidate (the previous weights), if there are any; the model's info before it."""
    before = target.model_info(args.id).get(m, {})
    slot = "candidate" if args.op == "promote" else "previous"
    if before.get(slot):
        blob = props.known(target, _pkey(info), prog.models[m].name, args.op)
        _prove(args, target, info, prog, m, blob, f"{slot} version {before[slot]}")
    return before


def _pkey(info: ProgInfo) -> str:
    return props.key(info.id, info.sha256)


# Inside `rmtctl batch`: the props store's updates wait for the batch to commit (a batch
# that fails applies nothing, and the store must keep following what is live).
_DEFERRED: list | None = None


def _remember(target, info: ProgInfo, name: str, blob: bytes | None, op: str) -> None:
    def do() -> None:
        props.remember(target, _pkey(info), name, blob, op)
    if _DEFERRED is not None:
        _DEFERRED.append(do)
    else:
        do()


_DONE = {"load": "loaded", "stage": "staged", "promote": "promoted", "rollback": "rolled back"}

# the options only `model refresh` and `model loop` take (argparse default None: given or not;
# their defaults are RefreshPolicy's and LoopTiming's)
_REFRESH_OPTS = ("train", "traces", "min_runs", "min_agreement", "label", "score", "output",
                 "min_accuracy", "margin", "max_trips")
_LOOP_OPTS = ("every", "rounds")


def _refresh_args(m: argparse.ArgumentParser) -> None:
    """The options of `model refresh` and `model loop`: default None (given or not), their
    defaults are RefreshPolicy's and LoopTiming's."""
    from rmt.ctl.accuracy import Labels
    from rmt.ctl.refresh import LoopTiming, RefreshPolicy
    p, t = RefreshPolicy, LoopTiming
    g = m.add_argument_group("refresh and loop", "the options of model refresh and model "
                             "loop (--every and --rounds: of model loop only)")
    g.add_argument("--train", metavar="CMD", help="the trainer, a shell command; {traces} is "
                   "the training file, {out} where it writes the weights")
    g.add_argument("--traces", metavar="FILE", help="the training file (trace records "
                   "appended as JSON lines; the loop's state is FILE.loop.json)")
    g.add_argument("--min-runs", type=int, metavar="N", help="runs a candidate is judged on, "
                   f"at least (default {p.min_runs})")
    g.add_argument("--min-agreement", type=float, metavar="F", help="agreement with the live "
                   f"weights needed to promote (default {p.min_agreement}; not with --label)")
    g.add_argument("--label", metavar="FIELD", help="judge by accuracy: the trace field "
                   "holding the label (positive when nonzero)")
    g.add_argument("--score", metavar="FIELD", help="the trace field holding the live "
                   "model's output the label is for (in the same trace format as --label)")
    g.add_argument("--output", type=int, metavar="K", help="which output of the model --score "
                   f"traces (default {Labels.output})")
    g.add_argument("--min-accuracy", type=float, metavar="F", help="the candidate's accuracy "
                   f"needed to promote (default {p.min_accuracy:g})")
    g.add_argument("--margin", type=float, metavar="F", help="how much more accurate than the "
                   f"live weights, on the same runs, the candidate must be (default "
                   f"{p.margin:g})")
    g.add_argument("--max-trips", type=int, metavar="N", help="roll back a promote the loop "
                   "made after more than N guard trips (default: no watch)")
    g.add_argument("--every", type=seconds, metavar="S", help="loop: seconds between rounds "
                   f"(default {t.every:g})")
    g.add_argument("--rounds", type=int, metavar="N", help="loop: rounds to run (default "
                   f"{t.rounds}: until interrupted)")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_refresh_flags(args) -> None:
    """The loop's options: only with refresh/loop, each in its range, consistent."""
    own = _REFRESH_OPTS + _LOOP_OPTS if args.op == "loop" else \
        _REFRESH_OPTS if args.op == "refresh" else ()
    for k in _REFRESH_OPTS + _LOOP_OPTS:
        if k not in own and getattr(args, k) is not None:
            raise UsageError(f"{_flag(k)} is an option of model "
                             f"{'loop' if k in _LOOP_OPTS else 'refresh and model loop'}, "
                             f"not of model {args.op}")
    if not own:
        return
    if not args.train or not args.traces:
        raise UsageError(f"model {args.op} needs --train CMD and --traces FILE")
    if args.min_runs is not None and args.min_runs < 1:
        raise UsageError(f"--min-runs must be >= 1, not {args.min_runs}")
    for k in ("min_agreement", "min_accuracy"):
        v = getattr(args, k)
        if v is not None and not 0 <= v <= 1:
            raise UsageError(f"{_flag(k)} must be within 0..1, not {v}")
    if args.margin is not None and not -1 <= args.margin <= 1:
        raise UsageError(f"--margin must be within -1..1, not {args.margin}")
    if args.max_trips is not None and args.max_trips < 0:
        raise UsageError(f"--max-trips must be >= 0, not {args.max_trips}")
    if (args.label is None) != (args.score is None):
        raise UsageError("--label FIELD and --score FIELD go together: the label and the "
                         "traced live output it is compared with")
    if args.label is None:
        for k in ("min_accuracy", "margin"):
            if getattr(args, k) is not None:
                raise UsageError(f"{_flag(k)} judges by accuracy: it needs --label and --score")
        if args.output is not None:
            raise UsageError("--output needs --label and --score")
    elif args.min_agreement is not None:
        raise UsageError("--min-agreement judges by agreement; with --label the candidate is "
                         "judged by accuracy (--min-accuracy, --margin)")
    if args.op == "loop" and args.rounds is not None and args.rounds < 0:
        raise UsageError(f"--rounds must be >= 0 (0: until interrupted), not {args.rounds}")


def _refresh_policy(args, prog, m: int):
    from rmt.ctl.accuracy import Labels
    from rmt.ctl.refresh import RefreshPolicy
    labels = None
    if args.label is not None:
        names = {f.name for t in prog.traces for f in t.fields}
        for opt, field in (("--label", args.label), ("--score", args.score)):
            if field not in names:
                raise UsageError(f"{opt} {field}: program {prog.name} traces no field of that "
                                 f"name (have: {', '.join(sorted(names)) or 'none'})")
        # a labelled run is one record holding both: in two formats, no run would ever count
        if not any({args.label, args.score} <= {f.name for f in t.fields} for t in prog.traces):
            raise UsageError(f"--label {args.label} --score {args.score}: no trace of program "
                             f"{prog.name} holds both fields (a labelled run is one record "
                             f"with the label and the score)")
        k = min(prog.models[m].n_out, CANDIDATE_TRACE_OUTPUTS)
        labels = Labels(args.label, args.score) if args.output is None else \
            Labels(args.label, args.score, args.output)
        if not 0 <= labels.output < k:
            raise UsageError(f"--output {labels.output}: model {prog.models[m].name} has "
                             f"outputs 0..{k - 1} a candidate's records show")
    given = {k: getattr(args, k) for k in ("min_runs", "min_agreement", "min_accuracy", "margin")
             if getattr(args, k) is not None}
    return RefreshPolicy(args.train, Path(args.traces), labels=labels,
                         max_trips=args.max_trips, **given)


def _acc(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _refresh_text(r: dict[str, Any]) -> str:
    judged = (f"accuracy {_acc(r['candidate_accuracy'])} vs the live weights' "
              f"{_acc(r['live_accuracy'])} on {r['runs']} labelled runs"
              if "runs" in r else _agreement(r.get("agree", 0), r.get("disagree", 0)))
    if r["action"] == "wait":
        n = r["runs"] if "runs" in r else r["agree"] + r["disagree"]
        return f"candidate version {r['candidate']} judged on {n} of {r['min_runs']} runs: waiting"
    if r["action"] == "promote":
        return f"version {r['version']} in use (the candidate {judged})"
    if r["action"] == "unstage":
        why = (f"{r['lost']} disagreement records were lost" if r.get("lost") else
               f"{r['unpaired']} disagreement records paired with no labelled run (does "
               f"--score hold the output --output names?)" if r.get("unpaired") else
               f"needs >= {_acc(r['min_accuracy'])} and a margin of "
               f"{100 * r['margin']:+.1f} points" if "runs" in r else
               f"below {_acc(r['min_agreement'])}")
        return f"candidate version {r['candidate']} dropped (it {judged}; {why})"
    if r["action"] == "rollback":
        return (f"{r['trips']} guard trips since version {r['from']} was promoted (more than "
                f"{r['max_trips']}): version {r['version']} in use again")
    return f"{r['records']} records added to the training file; candidate version " \
        f"{r['candidate']} staged"


def _refresh(args, target, info, prog, m: int) -> int:
    from rmt.ctl.refresh import LoopTiming, refresh_step
    if _DEFERRED is not None:
        raise UsageError(f"model {args.op} cannot run inside a batch: its trainer and its "
                         "training file are not part of the batch's transaction")
    policy = _refresh_policy(args, prog, m)
    name = prog.models[m].name
    trips = prog.trips_map()

    def prove(blob: bytes | None, what: str, op: str) -> None:
        if blob is None:
            blob = props.known(target, _pkey(info), name, op)
        _prove(args, target, info, prog, m, blob, what, op)

    def step() -> dict[str, Any]:
        return refresh_step(
            target, args.id, m, policy, lambda r: trace_json(prog, r), prove=prove,
            remember=lambda blob, op: _remember(target, info, name, blob, op),
            guard_trips=lambda: 0 if trips is None else
            target.map_dump(args.id, trips).get(0, 0),
            model_name=name, log=lambda msg: props.log(target, f"program {info.id}: {msg}"))

    if args.op == "refresh":
        res = step()
        _out(args, {"model": name, **res}, f"{name}: {_refresh_text(res)}")
        return 0
    pace = LoopTiming(**{k: getattr(args, k) for k in _LOOP_OPTS if getattr(args, k) is not None})
    failed = 0
    n = 0
    while not pace.rounds or n < pace.rounds:
        n += 1
        try:
            res = step()
            failed = 0
            _out(args, {"model": name, "round": n, **res},
                 f"{name}: round {n}: {_refresh_text(res)}")
        except TargetError as e:          # a round that fails changes nothing: the loop goes on
            failed = 1
            print(f"rmtctl: model loop: round {n}: {e}", file=sys.stderr)
        sys.stdout.flush()
        if _interrupted:
            raise KeyboardInterrupt
        if not pace.rounds or n < pace.rounds:
            _sleep(pace.every)
    return failed


def _sleep(duration: float) -> None:
    end = time.monotonic() + duration
    while not _interrupted and time.monotonic() < end:
        time.sleep(min(0.2, end - time.monotonic()))
    if _interrupted:
        raise KeyboardInterrupt


def cmd_model(args, target) -> int:
    _check_refresh_flags(args)
    _, prog = target.program(args.id)
    if args.op == "show":
        if args.model or args.file:
            raise UsageError("model show takes PROG only")
        info = target.model_info(args.id)
        rows = [{"id": i, "name": m.name, "kind": m.kind.name.lower(), "in": m.n_in,
                 "out": m.n_out, "loaded": bool(info.get(i, {}).get("version")),
                 **info.get(i, {})}
                for i, m in enumerate(prog.models)]
        _out(args, rows, "\n".join(_model_show_text(r) for r in rows)
             or f"(program {args.id} has no models)")
        return 0
    needs_file = args.op in ("load", "stage")
    if args.op in ("refresh", "loop") and args.file:
        raise UsageError(f"model {args.op} takes PROG MODEL and options")
    if not args.model or needs_file != bool(args.file):
        raise UsageError(f"model {args.op} needs PROG MODEL" + (" FILE" if needs_file else ""))
    m = _index([m.name for m in prog.models], args.model, "model")
    name = prog.models[m].name
    if not hasattr(target, "model_stage") and args.op != "load":
        raise TargetError(f"the {target.name} target has no candidate models")
    info, _ = target.program(args.id)
    if args.op == "load":
        blob = _read(args.file, "weights")
        _prove(args, target, info, prog, m, blob, args.file)
        version = target.model_load(args.id, m, blob)
        _remember(target, info, name, blob, "load")
        _out(args, {"model": name, "version": version}, f"{name}: version {version}")
    elif args.op == "stage":
        blob = _read(args.file, "weights")
        _prove(args, target, info, prog, m, blob, args.file)
        replaced = target.model_info(args.id).get(m, {}).get("candidate", 0)
        version = target.model_stage(args.id, m, blob)
        _remember(target, info, name, blob, "stage")
        _out(args, {"model": name, "candidate": version,
                    **({"replaced": replaced} if replaced else {})},
             f"{name}: candidate version {version} staged beside the live weights" +
             (f" (it replaces candidate version {replaced})" if replaced else ""))
    elif args.op == "promote":
        before = _prove_next(args, target, info, prog, m)
        version = target.model_promote(args.id, m)
        _remember(target, info, name, None, "promote")
        a, d = before.get("agree", 0), before.get("disagree", 0)
        _out(args, {"model": name, "version": version, "agree": a, "disagree": d},
             f"{name}: version {version} in use (the candidate {_agreement(a, d)})")
    elif args.op == "rollback":
        _prove_next(args, target, info, prog, m)
        version = target.model_rollback(args.id, m)
        _remember(target, info, name, None, "rollback")
        _out(args, {"model": name, "version": version}, f"{name}: version {version} in use again")
    elif args.op == "unstage":
        version = target.model_unstage(args.id, m)
        _remember(target, info, name, None, "unstage")
        _out(args, {"model": name, "dropped": version},
             f"{name}: candidate version {version} dropped")
    elif args.op in ("refresh", "loop"):
        return _refresh(args, target, info, prog, m)
    else:                                                   # history
        rows = target.model_history(args.id, m)
        _out(args, rows, "\n".join(
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r['time'])) + '  ' if r.get('time') else ''}"
            f"{r['op']:<8} version {r['version']}" +
            (f"  (candidate {_agreement(r['agree'], r['disagree'])})"
             if r["op"] in ("promote", "unstage") else "") for r in rows)
             or f"(model {name} has no history)")
    return 0


def cmd_map(args, target) -> int:
    _, prog = target.program(args.id)
    m = _index([m.name for m in prog.maps], args.map, "map")
    values = target.map_dump(args.id, m)
    _out(args, {str(k): v for k, v in sorted(values.items())},
         "\n".join(f"{k}: {v}" for k, v in sorted(values.items())) or "(empty)")
    return 0


# ------------------------------------------------------------ counters, traces, runs

def stats_json(prog: objfile.Program, s: Stats, shadow_default: int | None = None
               ) -> dict[str, Any]:
    """Counters with defaults, aborts and shadow agreement kept apart.  Agreement is over
    the runs where the program decided (not DEFAULT), as every engine counts it;
    `shadow.default` counts the shadow runs it did not decide (None when the target does not
    count them apart: the kernel's are within `defaults`)."""
    j = dataclasses.asdict(s)
    j["aborts"] = {Abort(k).name: v for k, v in s.aborts.items()}
    j["decisions"] = {_decision_name(prog, k): v for k, v in sorted(s.decisions.items())}
    j["defaults"] = s.decisions.get(DEFAULT_DECISION, 0)
    j["aborted"] = sum(s.aborts.values())
    decided = s.shadow_agree + s.shadow_disagree
    j["shadow"] = {"agree": s.shadow_agree, "disagree": s.shadow_disagree,
                   "default": shadow_default,
                   "agreement": round(s.shadow_agree / decided, 6) if decided else None}
    return j


def stats_text(j: dict[str, Any]) -> str:
    lines = [f"runs: {j['runs']}",
             "decisions: " + (", ".join(f"{k} {v}" for k, v in j["decisions"].items()) or "none"),
             f"defaults: {j['defaults']} (aborted {j['aborted']}" +
             "".join(f", {k} {v}" for k, v in j["aborts"].items()) +
             f"; guard trips {j.get('guard_trips', 0)}; bad decisions {j['bad_decisions']})"]
    sh = j["shadow"]
    if sh["agree"] or sh["disagree"] or sh["default"]:
        pct = "n/a" if sh["agreement"] is None else f"{100 * sh['agreement']:.2f}%"
        lines.append(f"shadow: agreement {pct} over {sh['agree'] + sh['disagree']} runs the "
                     f"program decided (agree {sh['agree']}, disagree {sh['disagree']}); " +
                     ("DEFAULT runs not counted" if sh["default"] is None
                      else f"{sh['default']} DEFAULT runs not counted"))
    lines += [f"{k}: {j[k]}" for k in ("trace_drops", "model_overflows", "map_drops") if k in j]
    lines += [f"{k}: {j[k]}" for k in ("engine", "hook") if k in j]
    return "\n".join(lines)


def cmd_stats(args, target) -> int:
    _, prog = target.program(args.id)
    if isinstance(target, SimTarget):
        raw = target.stats_json(args.id)
        from rmt.ctl.sim import _stats_from_json
        j = stats_json(prog, _stats_from_json(raw), raw.get("shadow_default", 0))
    else:
        j = stats_json(prog, target.stats(args.id))
    # runs a guard turned to DEFAULT: slot 0 of the program's trips map (compiler/lower.py);
    # read just after the counters, so under load it may include a few later runs
    trips = prog.trips_map()
    j["guard_trips"] = 0 if trips is None else target.map_dump(args.id, trips).get(0, 0)
    if hasattr(target, "engine"):                     # the kernel target: JIT or interpreter
        j["engine"] = target.engine(args.id)
    if hasattr(target, "hook_stats"):                 # the kernel target: the probe's counters
        hook = target.hook_stats(args.id)
        if hook is not None:
            j["hook"] = hook
    _out(args, j, stats_text(j))
    return 0


def trace_json(prog: objfile.Program, rec) -> dict[str, Any]:
    if rec.fmt == CANDIDATE_TRACE_FMT:     # a staged candidate disagreed with the live weights
        k = rec.values[1] if len(rec.values) > 1 else 0
        name = prog.models[rec.values[0]].name if rec.values[0] < len(prog.models) \
            else str(rec.values[0])
        return {"prog": prog.name, "fmt": "candidate", "cpu": rec.cpu, "ts": rec.ts,
                "fields": {"model": name,
                           "live": [codec.decode_value(v, 32, True) for v in rec.values[2:2 + k]],
                           "candidate": [codec.decode_value(v, 32, True)
                                         for v in rec.values[2 + k:2 + 2 * k]]}}
    fmt = prog.traces[rec.fmt]
    return {"prog": prog.name, "fmt": fmt.name, "cpu": rec.cpu, "ts": rec.ts,
            "fields": {f.name: codec.decode_value(v, f.bits, f.signed)
                       for f, v in zip(fmt.fields, rec.values)}}


def cmd_trace(args, target) -> int:
    _, prog = target.program(args.id)
    count = [0]

    def sink(recs) -> None:
        """Write the records and make them durable; raising keeps them in the ring."""
        text = "".join(json.dumps(trace_json(prog, r)) + "\n" for r in recs)
        count[0] = len(recs)
        if args.output:
            try:
                fd = os.open(args.output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            except OSError as e:
                raise TargetError(f"cannot open {args.output}: {e.strerror}; the records stay "
                                  f"in the ring") from None
            try:
                with os.fdopen(fd, "a") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                raise TargetError(f"{args.output}: {e.strerror}; the records stay in the ring "
                                  f"(the file may hold some of them twice after the next "
                                  f"drain)") from None
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
    # the records leave the ring (the sim's database, rmt.ko's ring) only after the sink
    target.trace(args.id, drain=not args.keep, sink=sink)
    if args.output:
        print(f"{count[0]} records -> {args.output}", file=sys.stderr)
    return 0


def cmd_run(args, target) -> int:
    _, prog = target.program(args.id)
    if not 1 <= args.repeat <= REPEAT_MAX:     # every run's result is kept in memory
        raise UsageError(f"--repeat {args.repeat}: must be in 1..{REPEAT_MAX}")
    try:
        # CTX is a JSON file, `-` for standard input, or the JSON object itself
        text = (sys.stdin.read() if args.ctx == "-" else args.ctx
                if args.ctx.lstrip().startswith(("{", "[")) else Path(args.ctx).read_text())
        spec = json.loads(text)
    except OSError as e:
        raise UsageError(f"cannot read context {args.ctx}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read context {args.ctx}: not JSON ({e})") from None
    if not isinstance(spec, dict):
        raise UsageError(f"context {args.ctx}: expected a JSON object of field values, "
                         f"got a JSON {type(spec).__name__}")
    cpu, now = spec.pop("cpu", args.cpu), spec.pop("now", 0)
    for k, v in spec.items():            # JSON true/false are Python ints: not field values
        if any(isinstance(x, bool) for x in (v if isinstance(v, list) else [v])):
            raise UsageError(f"{args.ctx}: field {k}: {json.dumps(v)} is not an integer")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (cpu, now)):
        raise UsageError(f"context {args.ctx}: cpu and now must be integers")
    if not 0 <= now < 1 << 64:             # ktime_ns() is a u64
        raise UsageError(f"context {args.ctx}: now {now} is outside 0..2^64-1")
    try:
        # the declared ranges, as where the kernel and the simulators build contexts
        # (clamp_ctx): a verified program is proved safe for those contexts only
        ctx = codec.ctx_encode(prog.hook, spec, check_range=True)
    except (ValueError, TypeError) as e:
        raise UsageError(f"{args.ctx}: {e}") from None
    kd = args.kernel_decision
    if kd is None and prog.hook.field("kernel_verdict") is not None:
        kd = spec.get("kernel_verdict")
    if kd is not None and not -(1 << 63) <= kd < 1 << 63:     # an s64, as EXIT's decision
        raise UsageError(f"--kernel-decision {kd}: outside the s64 range")
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


def cmd_batch(args, target) -> int:
    global _DEFERRED
    lines = _entry_lines(args.file)
    _DEFERRED = []
    try:
        _batch(args, target, lines)
        for do in _DEFERRED:
            do()
    finally:
        _DEFERRED = None
    return 0


def _batch(args, target, lines) -> None:
    with _transaction(target), progress(f"batch {args.file}") as st:
        st["total"] = len(lines)
        for i, (n, toks) in enumerate(lines):
            st["done"] = i
            _where(target, f"{args.file}:{n}")
            if toks[0] == "batch":
                raise UsageError(f"{args.file}:{n}: batch files do not nest")
            try:
                sub = parse(toks, args.globals)
                if sub.cmd in (None, "help"):
                    raise UsageError("not a command")
                _run(sub, target)
            except (HelpShown, SystemExit):
                continue
            except (UsageError, TargetError) as e:
                raise type(e)(f"{args.file}:{n}: {e}; nothing was applied") from None


def cmd_version(args, target) -> int:
    from importlib import metadata
    try:
        v = metadata.version("rmt")
    except metadata.PackageNotFoundError:
        v = "unknown"
    _out(args, {"version": v, "targets": ["sim", "kernel"]}, f"rmtctl v{v}")
    return 0


# ------------------------------------------------------------ parsing

def build_parser() -> argparse.ArgumentParser:
    """The command parser (global options are pulled out first by split_globals; they are
    declared here too so that help, the man page and completion show them)."""
    p = _Parser(prog="rmtctl", description="Control inserted RMT programs (bpftool's "
                "conventions: options anywhere, `help` at every level, PROG as an id or "
                "`name NAME`).", epilog="Exit codes: 0 ok, 1 refused or failed, 2 usage, "
                "130 interrupted.")
    p.add_argument("-j", "--json", action="store_true", help="JSON output (errors too, "
                   "as {\"error\": ...} on stderr)")
    p.add_argument("-p", "--pretty", action="store_true", help="indented JSON (implies -j)")
    p.add_argument("-V", "--version", action="store_true", help="print the version")
    p.add_argument("--target", choices=("sim", "kernel"),
                   help="sim or kernel (default: sim with --state, else $RMT_TARGET, else "
                        "kernel when /dev/rmt exists, else sim)")
    p.add_argument("--state", help="sim state directory (default $RMT_SIM_STATE, else "
                                   "$XDG_STATE_HOME/rmt/sim, else ~/.local/state/rmt/sim)")
    p.add_argument("--engine", choices=("c", "ref"), default="c",
                   help="sim engine: the C VM (default) or the Python reference semantics")
    sub = p.add_subparsers(dest="cmd", parser_class=_Parser, metavar="COMMAND")
    s = sub.add_parser("insert", help="verify, then insert a program; prints its id")
    s.add_argument("object", help="the compiled program (.rmtb)")
    s.add_argument("--force", action="store_true", help="insert even if the verifier rejects")
    s.add_argument("--rlimit", type=int, help="Z3 resource units per verifier query")
    s.add_argument("--weights", action="append", default=[], metavar="MODEL=FILE",
                   help="let the verifier prove model bounds with these weights (repeatable)")
    s.add_argument("--props", metavar="FILE", help="the program's properties (default: the "
                   ".rmtp beside the object, if any), proved at every `model load`")
    s.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                   help="run as x86-64 JIT code (default where supported) or, with --no-jit, "
                        "on the interpreter")
    s.set_defaults(fn=cmd_insert)
    s = sub.add_parser("remove", help="remove a program and its state")
    s.add_argument("id", metavar="PROG")
    s.add_argument("--force", action="store_true",
                   help="remove even when the stored record is corrupt")
    s.set_defaults(fn=cmd_remove)
    for name, fn, h in (("show", cmd_show, "a program's tables, models and maps"),
                        ("stats", cmd_stats, "run counters: decisions, defaults, aborts, "
                                             "shadow agreement")):
        s = sub.add_parser(name, help=h)
        s.add_argument("id", metavar="PROG")
        s.set_defaults(fn=fn)
    sub.add_parser("list", help="the inserted programs").set_defaults(fn=cmd_list)
    t = sub.add_parser("table", help="add, modify, delete, dump or clear table entries",
                       usage="rmtctl table {add|mod} PROG TABLE MATCH... action NAME [ARG...] "
                             "[priority N]\n       rmtctl table add PROG TABLE -f FILE\n"
                             "       rmtctl table del PROG TABLE MATCH... [priority N]\n"
                             "       rmtctl table {dump|clear} PROG TABLE")
    t.add_argument("op", choices=("add", "mod", "del", "dump", "clear"))
    t.add_argument("id", metavar="PROG")
    t.add_argument("table")
    t.add_argument("entry", nargs=argparse.REMAINDER)
    t.set_defaults(fn=cmd_table)
    m = sub.add_parser("model", help="load, stage, promote or roll back weights; show models",
                       usage="rmtctl model {load|stage} PROG MODEL FILE [--timeout S] [--no-prove]\n"
                             "       rmtctl model {promote|rollback} PROG MODEL [--timeout S] "
                             "[--no-prove]\n"
                             "       rmtctl model {unstage|history} PROG MODEL\n"
                             "       rmtctl model {refresh|loop} PROG MODEL --train CMD --traces "
                             "FILE [--min-runs N]\n"
                             "             [--min-agreement F | --label FIELD --score FIELD "
                             "[--output K] [--min-accuracy F] [--margin F]]\n"
                             "             [--max-trips N] [--every S] [--rounds N]\n"
                             "       rmtctl model show PROG")
    m.add_argument("op", choices=("load", "stage", "promote", "rollback", "unstage", "history",
                                  "refresh", "loop", "show"))
    m.add_argument("id", metavar="PROG")
    m.add_argument("model", nargs="?")
    m.add_argument("file", nargs="?")
    m.add_argument("--timeout", type=seconds, default=60.0, metavar="S",
                   help="seconds per property proof; one that runs out refuses the weights "
                        "(default 60)")
    m.add_argument("--no-prove", action="store_true",
                   help="load, stage, promote or roll back without proving the program's "
                        "properties (logged)")
    _refresh_args(m)
    m.set_defaults(fn=cmd_model)
    mp = sub.add_parser("map", help="dump a map", usage="rmtctl map dump PROG MAP")
    mp.add_argument("op", choices=("dump",))
    mp.add_argument("id", metavar="PROG")
    mp.add_argument("map")
    mp.set_defaults(fn=cmd_map)
    tr = sub.add_parser("trace", help="drain (or read) trace records as JSON lines")
    tr.add_argument("id", metavar="PROG")
    tr.add_argument("-o", "--output", help="append to FILE (made durable before the records "
                                           "are drained)")
    tr.add_argument("--keep", action="store_true", help="do not drain the records")
    tr.set_defaults(fn=cmd_trace)
    pr = sub.add_parser("prog", help="run a program on a context",
                        usage="rmtctl prog run PROG --ctx CTX [--repeat N] [--cpu N] "
                              "[--kernel-decision N]")
    pr.add_argument("op", choices=("run",))
    pr.add_argument("id", metavar="PROG")
    pr.add_argument("--ctx", required=True, metavar="CTX",
                    help="the context: a JSON file, - for standard input, or the JSON object")
    pr.add_argument("--repeat", type=int, default=1)
    pr.add_argument("--cpu", type=int, default=0)
    pr.add_argument("--kernel-decision", type=int)
    pr.set_defaults(fn=cmd_run)
    b = sub.add_parser("batch", help="run the commands in FILE, one per line (all or "
                                     "nothing on the sim)")
    b.add_argument("file")
    b.set_defaults(fn=cmd_batch)
    sub.add_parser("version", help="print the version").set_defaults(fn=cmd_version)
    sub.add_parser("help", help="this help")
    return p


_PARSER: argparse.ArgumentParser | None = None


def _parser() -> argparse.ArgumentParser:
    global _PARSER
    if _PARSER is None:
        _PARSER = build_parser()
    return _PARSER


def _complete() -> None:
    """Bash completion (argcomplete): answers and exits when the shell asks."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(_parser())


class HelpShown(Exception):
    pass


def _subparser(name: str) -> argparse.ArgumentParser | None:
    for a in _parser()._actions:
        if isinstance(a, argparse._SubParsersAction):
            return a.choices.get(name)
    return None


def parse(words: list[str], g: Globals) -> argparse.Namespace:
    """Parse a command (global options already removed); `help` at any level prints that
    level's help (HelpShown)."""
    if not words:
        _parser().print_usage(sys.stderr)
        raise UsageError("missing COMMAND (see `rmtctl help`)")
    if words[0] in ("help", "-h", "--help"):       # the usage line offers -h/--help too
        _parser().print_help()
        raise HelpShown
    cmd = words[0]
    sp = _subparser(cmd)
    if sp is None:
        raise UsageError(f"unknown command {cmd!r} (see `rmtctl help`)")
    if "help" in words[1:3] and (len(words) < 3 or words[1] == "help"
                                 or cmd in ("table", "model", "map", "prog")):
        sp.print_help()
        raise HelpShown
    words = list(words)
    at = _PROG_AT.get(cmd)
    if at is not None and len(words) > at and words[at] in ("id", "name"):
        if len(words) <= at + 1:
            raise UsageError(f"`{words[at]}` needs a value")
        words[at:at + 2] = [f"{words[at]}:{words[at + 1]}"]
    elif at is not None and len(words) > at and not words[at].isdigit() \
            and not words[at].startswith("-"):
        words[at] = f"name:{words[at]}"
    args = _parser().parse_args(words)
    args.json, args.pretty, args.globals = g.json, g.pretty, g
    args.prog_ref = getattr(args, "id", None)
    return args


def _bind_prog(args: argparse.Namespace, target) -> None:
    if isinstance(getattr(args, "id", None), str):
        args.id = resolve_prog(target, args.id)


def _report(g: Globals, msg: str) -> None:
    if g.json:
        print(json.dumps({"error": msg}), file=sys.stderr)
    else:
        print(f"rmtctl: {msg}", file=sys.stderr)


def _run(args: argparse.Namespace, target) -> int:
    _bind_prog(args, target)
    code = args.fn(args, target)
    sys.stdout.flush()                  # a closed pipe shows here, not at interpreter exit
    return code


def main(argv: list[str] | None = None) -> int:
    global _interrupted
    _interrupted = False
    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGINT, _on_sigint)
    g = Globals()
    try:
        _complete()
        try:
            g, words = split_globals(sys.argv[1:] if argv is None else list(argv))
            if g.version:
                words = ["version"]
            args = parse(words, g)
        except HelpShown:
            return 0
        except SystemExit as e:                  # argparse's -h/--help
            return int(e.code or 0)
        if args.cmd == "help" or args.cmd is None:
            _parser().print_help()
            return 0
        target = None if args.fn is cmd_version else make_target(g)
        return _run(args, target)
    except UsageError as e:
        _report(g, str(e))
        return 2
    except TargetError as e:
        _report(g, str(e))
        return 1
    except KeyboardInterrupt:
        _report(g, "interrupted" + ("; the state is as before" if g.target != "kernel" and
                                   not os.path.exists(DEVICE) else ""))
        return 130
    except BrokenPipeError:
        try:                                   # the reader went away (`| head`)
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        _report(g, "output closed early (broken pipe); nothing else was changed")
        return 1
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        why = "no space left on the device" if e.errno == errno.ENOSPC else e.strerror or e
        _report(g, f"{where}{why}; nothing was changed")
        return 1
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)


if __name__ == "__main__":
    sys.exit(main())
