"""VM test cases as data: the loader and the engine-agnostic runner.

The format is described in docs/test-cases.md.  `load_case(path)` parses a
file into a Case (syntax only); `run_case(case, factory)` builds the object,
loads it with `factory(obj_bytes, trace_capacity=..., seed=...)` (any
rmt.contract.engine.Engine), applies the control-plane steps and runs, and
raises AssertionError naming the file, line and difference on the first
mismatch.  The reference engine's test, the C VM's test and the JIT's test
all call run_case with their own factory.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rmt.compiler import asm
from rmt.contract import objfile
from rmt.contract.isa import Abort
from rmt.contract.objfile import Action, Key, Layer, Map, Model, Param, Program, Table, TraceField, TraceFmt
from rmt.contract.objformat import (MODE_ENFORCE, MODE_SHADOW, Activation, LayerKind, MapKind,
                                MatchKind, ModelKind)
from rmt.contract.hooks import DEFAULT_DECISION, HOOKS, INT_TYPES, HookSpec
from rmt.contract import weights as W
from rmt.contract.codec import ctx_decode, ctx_encode, decode_value, pack_params, parse_match
from rmt.contract.engine import Engine, EngineError, Entry
from rmt.contract.isa import DEFAULT_SEED
from rmt.semantics.tables import identity

SECTIONS = ("hook", "asm", "rmt", "schema", "options", "entries", "weights", "maps", "ctx",
            "result", "error")
EngineFactory = Callable[..., Engine]


class CaseSyntaxError(Exception):
    def __init__(self, path: str, line: int, msg: str):
        super().__init__(f"{path}:{line}: {msg}")


@dataclass
class Section:
    name: str
    line: int                  # line number of the `-- name` header
    text: str

    def lines(self) -> list[tuple[int, str]]:
        """Non-blank lines without `#` comments, with their file line numbers."""
        out = []
        for n, raw in enumerate(self.text.splitlines(), self.line + 1):
            s = raw.split("#", 1)[0].strip()
            if s:
                out.append((n, s))
        return out


@dataclass
class Run:
    ctx: Section
    result: Section


@dataclass
class Case:
    path: str
    hook: str
    asm: str | None = None
    rmt: str | None = None
    schema: dict[str, Any] = field(default_factory=dict)
    options: dict[str, int] = field(default_factory=dict)
    steps: list[Section | Run] = field(default_factory=list)   # entries/weights/maps/runs
    error: str | None = None

    @property
    def name(self) -> str:
        return Path(self.path).stem


# ---------------------------------------------------------------- parsing

def load_case(path: str | Path) -> Case:
    return parse_case(Path(path).read_text(), str(path))


def parse_case(text: str, path: str = "<case>") -> Case:
    sections: list[Section] = []
    for n, raw in enumerate(text.splitlines(), 1):
        m = re.fullmatch(r"--\s+(\w+)\s*", raw)
        if m:
            if m.group(1) not in SECTIONS:
                raise CaseSyntaxError(path, n, f"unknown section {m.group(1)!r}; known: "
                                               f"{', '.join(SECTIONS)}")
            sections.append(Section(m.group(1), n, ""))
        elif sections:
            sections[-1].text += raw + "\n"
        elif raw.strip() and not raw.strip().startswith("#"):
            raise CaseSyntaxError(path, n, "text before the first `-- section`")
    case = Case(path, "")
    pending_ctx: Section | None = None
    seen: set[str] = set()
    for s in sections:
        if s.name in seen and s.name in ("hook", "asm", "rmt", "schema", "options", "error"):
            raise CaseSyntaxError(path, s.line, f"section {s.name} appears twice")
        seen.add(s.name)
        if pending_ctx is not None and s.name != "result":
            raise CaseSyntaxError(path, s.line, "a `-- ctx` must be followed by `-- result`")
        if s.name == "hook":
            case.hook = s.text.strip()
            if case.hook not in HOOKS:
                raise CaseSyntaxError(path, s.line + 1, f"unknown hook {case.hook!r}")
        elif s.name == "asm":
            case.asm = s.text
        elif s.name == "rmt":
            case.rmt = s.text
        elif s.name == "schema":
            try:
                case.schema = json.loads(s.text)
            except json.JSONDecodeError as e:
                raise CaseSyntaxError(path, s.line + e.lineno, f"schema: {e.msg}") from None
        elif s.name == "options":
            for n, (k, v) in _items(s, path):
                if k not in ("trace_capacity", "seed"):
                    raise CaseSyntaxError(path, n, f"unknown option {k!r}")
                case.options[k] = _literal(v, path, n)
        elif s.name == "error":
            case.error = s.text.strip()
            if not re.fullmatch(r"E[A-Z0-9]+: .+", case.error):
                raise CaseSyntaxError(path, s.line + 1, "`-- error` is `ECODE: keyword`")
        elif s.name == "ctx":
            pending_ctx = s
        elif s.name == "result":
            if pending_ctx is None:
                raise CaseSyntaxError(path, s.line, "`-- result` without a `-- ctx` before it")
            case.steps.append(Run(pending_ctx, s))
            pending_ctx = None
        else:
            if s.name == "weights":
                try:
                    json.loads(s.text)
                except json.JSONDecodeError as e:
                    raise CaseSyntaxError(path, s.line + e.lineno, f"weights: {e.msg}") from None
            case.steps.append(s)
    if pending_ctx is not None:
        raise CaseSyntaxError(path, pending_ctx.line, "`-- ctx` without `-- result`")
    if not case.hook:
        raise CaseSyntaxError(path, 1, "no `-- hook` section")
    if (case.asm is None) == (case.rmt is None):
        raise CaseSyntaxError(path, 1, "exactly one of `-- asm` and `-- rmt` is needed")
    if case.rmt is not None and case.schema:
        raise CaseSyntaxError(path, 1, "`-- schema` is for asm cases; rmt declares its own")
    if case.error is not None and any(isinstance(s, Run) for s in case.steps):
        raise CaseSyntaxError(path, 1, "a case with `-- error` has no runs")
    if case.error is None and not any(isinstance(s, Run) for s in case.steps):
        raise CaseSyntaxError(path, 1, "a case needs a `-- ctx`/`-- result` run or `-- error`")
    return case


def _split_items(text: str) -> list[str]:
    """Whitespace-separated items, keeping [...] and {...} together."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch.isspace() and depth == 0:
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def _items(s: Section, path: str = "<case>") -> list[tuple[int, tuple[str, str]]]:
    """`key=value` items of a section, with line numbers; items may span lines in brackets."""
    out = []
    text_lines = s.lines()
    buf, start = "", 0
    for n, line in text_lines:
        if not buf:
            start = n
        buf += " " + line
        if buf.count("[") + buf.count("{") > buf.count("]") + buf.count("}"):
            continue
        for item in _split_items(buf):
            k, eq, v = item.partition("=")
            if not eq:
                raise CaseSyntaxError(path, start, f"expected key=value, found {item!r}")
            out.append((start, (k, v)))
        buf = ""
    if buf:
        raise CaseSyntaxError(path, start, "unbalanced brackets")
    return out


def _literal(v: str, path: str, line: int) -> Any:
    try:
        return ast.literal_eval(v)
    except (ValueError, SyntaxError):
        raise CaseSyntaxError(path, line, f"bad value {v!r}") from None


# ---------------------------------------------------------------- the program

def _type(name: str) -> tuple[int, bool]:
    t = INT_TYPES[name]
    return t.bits, t.signed


def schema_program(name: str, hook: HookSpec, code: list, schema: dict[str, Any]) -> Program:
    """Map a case's JSON schema onto objfile dataclasses (docs/test-cases.md)."""
    tables = []
    for i, t in enumerate(schema.get("tables", [])):
        keys = [Key(k.get("name", f"k{j}"), MatchKind[k["kind"].upper()], k["bits"])
                for j, k in enumerate(t["keys"])]
        actions = []
        for a in t["actions"]:
            off, ps = 0, []
            for pname, ptype in a.get("params", []):
                bits, signed = _type(ptype)
                size = bits // 8
                off = (off + size - 1) // size * size
                ps.append(Param(pname, off, bits, signed))
                off += size
            actions.append(Action(a["name"], ps))
        tbl = Table(t.get("name", f"t{i}"), keys, actions, t.get("size", 64))
        default = t.get("default", [actions[0].name, None])
        if isinstance(default, str):
            default = [default, None]       # no arguments: zero parameters
        tbl.default_action = _index([a.name for a in actions], str(default[0]), "action")
        if default[1] is not None:
            tbl.default_params = pack_params(actions[tbl.default_action], default[1]).ljust(
                tbl.param_size, b"\0")
        tables.append(tbl)
    models = []
    for i, m in enumerate(schema.get("models", [])):
        kind = ModelKind[m["kind"].upper()]
        layers, width = [], m["n_in"]
        for ly in m.get("layers", []):
            lk = LayerKind[ly.get("kind", "dense").upper()]
            n_in = ly.get("n_in", width)
            if lk == LayerKind.CONV1D:
                ic, oc, k = ly["in_ch"], ly["out_ch"], ly["kernel"]
                n_out = ly.get("n_out", (n_in // ic - k + 1) * oc)
                layers.append(Layer(lk, Activation[ly.get("act", "none").upper()], n_in, n_out,
                                    ic, oc, k))
            else:
                n_out = ly["n_out"]
                layers.append(Layer(lk, Activation[ly.get("act", "none").upper()], n_in, n_out))
            width = n_out
        models.append(Model(m.get("name", f"m{i}"), kind, m["n_in"], m.get("n_out", width),
                            m.get("weight_bits", 16), layers, m.get("trees", 0),
                            m.get("depth", 0), m.get("in_lo", -(1 << 31)),
                            m.get("in_hi", (1 << 31) - 1), m.get("max_abs_weight", 0)))
    maps = [Map(m.get("name", f"map{i}"), MapKind[m["kind"].upper()], m.get("key_bits", 32),
                m.get("value_bits", 64), m.get("size", 16), m.get("percpu", False),
                m.get("private", False))
            for i, m in enumerate(schema.get("maps", []))]
    traces = [TraceFmt(t.get("name", f"tr{i}"), [TraceField(f, *_type(ty)) for f, ty in t["fields"]])
              for i, t in enumerate(schema.get("traces", []))]
    mode = MODE_SHADOW if schema.get("mode") == "shadow" else MODE_ENFORCE
    return Program(schema.get("name", name), hook, code, schema.get("scratch", 64), mode,
                   tables, models, maps, traces)


def build_program(case: Case) -> Program:
    """The case's program: assembled with its schema, or compiled from `-- rmt`."""
    if case.rmt is not None:
        import pytest
        try:
            import rmt.compiler as comp
            compile_source = comp.compile_source   # type: ignore[attr-defined]
        except (ImportError, AttributeError):
            pytest.skip("rmt case: compiler.compile_source is not available yet")
        return compile_source(case.rmt, case.path)
    code = asm.assemble(case.asm or "")
    return schema_program(case.name, HOOKS[case.hook], code, case.schema)


# ---------------------------------------------------------------- values

def _index(names: list[str], tok: str, what: str) -> int:
    tok = tok.strip()
    if tok in names:
        return names.index(tok)
    if re.fullmatch(r"\d+", tok):
        return int(tok)          # out-of-range indexes go to the engine, which must refuse them
    raise ValueError(f"unknown {what} {tok!r} (have {', '.join(names) or 'none'})")


_ENTRY_RE = re.compile(r"^(?:(insert|modify|delete)\s+)?([\w.]+)\s*:\s*(.*?)"
                       r"(?:\s*->\s*(\w+)\s*(?:\((.*?)\)|raw:([0-9a-fA-F]*))?)?"
                       r"(?:\s+prio\s+(-?\d+))?(?:\s+!(E[A-Z0-9]+))?$")


def ctx_field(hook: HookSpec, ctx: bytes, name: str) -> int | list[int]:
    if hook.field(name) is None:
        raise ValueError(f"hook {hook.name} has no field {name!r}")
    return ctx_decode(hook, ctx, [name])[name]


def weights_blob(model: Model, spec: dict[str, Any]) -> bytes:
    """A blob from a case's JSON description (see docs/test-cases.md)."""
    if "raw" in spec:
        return bytes.fromhex(spec["raw"])
    version = spec.get("version", 0)
    if model.kind in (ModelKind.MLP, ModelKind.LINEAR):
        layers: list[W.Layer] = []
        for sig, ly in zip(model.layers, spec["layers"]):
            relu = sig.act == Activation.RELU
            if sig.kind == LayerKind.CONV1D:
                layers.append(W.Conv1dLayer(ly["w"], ly["b"], sig.n_in, ly.get("shift", 0), relu))
            else:
                layers.append(W.DenseLayer(ly["w"], ly["b"], ly.get("shift", 0), relu))
        w = W.ModelWeights(model.kind, model.n_in, model.n_out, model.weight_bits, layers,
                           version=version)
    else:
        trees = spec.get("trees", [spec] if "nodes" in spec else [])
        w = W.ModelWeights(model.kind, model.n_in, model.n_out, model.weight_bits,
                           trees=[W.Tree(t["nodes"], t["leaves"]) for t in trees],
                           shift=spec.get("shift", 0), version=version)
    return W.write_weights(w)


# ---------------------------------------------------------------- running

def check_error(e: EngineError, expected: str, where: str) -> None:
    """`ECODE: keyword`: the code must match and the keyword appear in the message."""
    code, _, keyword = expected.partition(":")
    assert e.code_name == code.strip(), \
        f"{where}: expected {code.strip()}, got {e.code_name}: {e}"
    assert keyword.strip().lower() in str(e).lower(), \
        f"{where}: expected an error about {keyword.strip()!r}, got {e.code_name}: {e}"


class _Runner:
    def __init__(self, case: Case, prog: Program, eng: Engine):
        self.case, self.prog, self.eng = case, prog, eng
        self.table_names = [t.name for t in prog.tables]
        self.map_names = [m.name for m in prog.maps]
        self.model_names = [m.name for m in prog.models]

    def at(self, line: int) -> str:
        return f"{self.case.path}:{line}"

    def expect_fail(self, fn: Callable[[], Any], code: str | None, where: str) -> Any:
        if code is None:
            return fn()
        try:
            fn()
        except EngineError as e:
            assert e.code_name == code, f"{where}: expected {code}, got {e.code_name}: {e}"
            return None
        raise AssertionError(f"{where}: expected {code}, the call succeeded")

    def entries(self, s: Section) -> None:
        for n, line in s.lines():
            where = self.at(n)
            m = _ENTRY_RE.match(line)
            if not m:
                raise CaseSyntaxError(self.case.path, n, f"bad entry line {line!r}")
            op, tname, matches, aname, args, raw, prio, err = m.groups()
            t = _index(self.table_names, tname, "table")
            # A table index the program lacks still goes to the engine (which must say ENOENT).
            table = self.prog.tables[t] if t < len(self.prog.tables) else Table("?", [], [], 1)
            match = tuple(parse_match(x) for x in matches.split(",")) if matches.strip() else ()
            priority = int(prio) if prio else 0
            if op == "delete":
                self.expect_fail(lambda: self.eng.table_delete(t, match, priority), err, where)
                continue
            if aname is None:
                raise CaseSyntaxError(self.case.path, n, "insert/modify needs `-> action`")
            a = _index([x.name for x in table.actions], aname, "action") \
                if table.actions or aname.isdigit() else 0
            if raw is not None:
                params = bytes.fromhex(raw)
            elif a >= len(table.actions):
                params = b""
            else:
                vals = [int(x, 0) for x in args.split(",")] if args and args.strip() else []
                params = pack_params(table.actions[a], vals)
            entry = Entry(match, a, params, priority)
            fn = self.eng.table_modify if op == "modify" else self.eng.table_insert
            self.expect_fail(lambda: fn(t, entry), err, where)

    def weights(self, s: Section) -> None:
        for name, spec in json.loads(s.text).items():
            where = self.at(s.line)
            mi = _index(self.model_names, name, "model")
            blob = weights_blob(self.prog.models[mi], spec)
            if "error" in spec:
                try:
                    self.eng.model_load(mi, blob)
                except EngineError as e:
                    check_error(e, spec["error"], where)
                    continue
                raise AssertionError(f"{where}: expected {spec['error']}, the load succeeded")
            version = self.eng.model_load(mi, blob)
            if "expect_version" in spec:
                assert version == spec["expect_version"], \
                    f"{where}: model version {version}, expected {spec['expect_version']}"

    def maps(self, s: Section) -> None:
        for n, (k, v) in _items(s, self.case.path):
            m = re.fullmatch(r"(\w+)\[(\w+)\]", k)
            if not m:
                raise CaseSyntaxError(self.case.path, n, f"expected NAME[key]=value, found {k!r}")
            mi = _index(self.map_names, m.group(1), "map")
            value = _literal(v, self.case.path, n)
            self.eng.map_write(mi, int(m.group(2), 0),
                               value & ((1 << self.prog.maps[mi].value_bits) - 1))

    def run(self, r: Run) -> None:
        hook = self.prog.hook
        values = {k: _literal(v, self.case.path, n) for n, (k, v) in _items(r.ctx, self.case.path)}
        cpu, now = values.pop("cpu", 0), values.pop("now", 0)
        res = self.eng.run(ctx_encode(hook, values), cpu=cpu, now=now)
        for n, (k, v) in _items(r.result, self.case.path):
            self.check(n, k, v, res)

    def check(self, n: int, key: str, text: str, res) -> None:
        where = self.at(n)
        hook = self.prog.hook
        if key == "decision":
            want = (DEFAULT_DECISION if text == "DEFAULT" else hook.decision.names[text]
                    if text in hook.decision.names else int(text, 0))
            got: Any = res.decision
        elif key == "abort":
            want, got = Abort[text].name, Abort(res.abort).name
        elif key == "abort_pc":
            want, got = int(text, 0), res.abort_pc
        elif key.startswith("ctx."):
            want, got = _literal(text, self.case.path, n), ctx_field(hook, res.ctx, key[4:])
        elif key.startswith("map."):
            m = re.fullmatch(r"map\.([\w.]+)\[(\w+)\]", key)
            if not m:
                raise CaseSyntaxError(self.case.path, n, f"expected map.NAME[key], found {key!r}")
            mi = _index(self.map_names, m.group(1), "map")
            want = _literal(text, self.case.path, n) & ((1 << self.prog.maps[mi].value_bits) - 1)
            got = self.eng.map_read(mi).get(int(m.group(2), 0), 0)
        elif key == "trace":
            want = _literal(text, self.case.path, n)
            got = []
            for rec in self.eng.trace_drain():
                fmt = self.prog.traces[rec.fmt]
                got.append([decode_value(v, f.bits, f.signed)
                            for v, f in zip(rec.values, fmt.fields)])
        elif key == "trace_raw":
            want = _literal(text, self.case.path, n)
            got = [[rec.fmt, rec.cpu, rec.ts, *rec.values] for rec in self.eng.trace_drain()]
        elif key.startswith(("hits.", "misses.", "entries.")):
            kind, _, tname = key.partition(".")
            t = _index(self.table_names, tname, "table")
            want = _literal(text, self.case.path, n)
            if kind == "hits":
                got = [es.hits for es in self.eng.table_entries(t)]
            elif kind == "misses":
                got = self.eng.table_misses(t)  # type: ignore[attr-defined]
            else:
                got = len(self.eng.table_entries(t))
        elif key.startswith("stats."):
            st = self.eng.stats()
            parts = key.split(".")
            want = int(text, 0)
            if parts[1] == "aborts":
                got = st.aborts.get(int(Abort[parts[2]]), 0)
            elif parts[1] == "decisions":
                got = st.decisions.get(int(parts[2]), 0)
            else:
                got = getattr(st, parts[1])
        else:
            raise CaseSyntaxError(self.case.path, n, f"unknown result key {key!r}")
        assert got == want, f"{where}: {key}: expected {want!r}, got {got!r}"


def run_case(case: Case, factory: EngineFactory) -> None:
    """Run one case on the engine `factory` builds; AssertionError on any mismatch."""
    prog = build_program(case)
    obj = objfile.write(prog)
    opts = {"trace_capacity": case.options.get("trace_capacity", 4096),
            "seed": case.options.get("seed", DEFAULT_SEED)}
    if case.error is not None:
        try:
            factory(obj, **opts)
        except EngineError as e:
            check_error(e, case.error, case.path)
            return
        raise AssertionError(f"{case.path}: expected load error {case.error!r}, it loaded")
    eng = factory(obj, **opts)
    runner = _Runner(case, prog, eng)
    for step in case.steps:
        if isinstance(step, Run):
            runner.run(step)
        else:
            getattr(runner, step.name)(step)


def entry_identity(prog: Program, table: int, entry: Entry) -> tuple:
    """For engines' tests: the identity an entry has under the P4Runtime rules."""
    return identity(prog.tables[table], entry.match, entry.priority)
