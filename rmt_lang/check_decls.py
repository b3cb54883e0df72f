"""Checking declarations: hook, mode, names, constants, types, models, maps, tables, guards.

Each declaration kind has one function; each reports what is wrong with it and
leaves the declaration usable by later checks wherever it can (a model with a
bad layer still has its `in`/`out`, so calls to it are still checked).
"""
from __future__ import annotations

from typing import Optional

from . import ast as A
from .check_expr import BUILTINS, const_int, expect, expect_int, finalize, infer, model_io
from rmt.contract.hooks import HOOKS
from .state import Env, State
from .suggest import did_you_mean
from .typeref import base_type, resolve_int_type, resolve_scalar_type
from .types import I32, U32, default_int
from rmt.contract.isa import HELPER_BY_NAME
from rmt.contract.objformat import LIMITS

MAX_ARRAY = 1024
MAX_IO = LIMITS["MAX_MODEL_IO"]
MAX_ENTRIES = LIMITS["MAX_TABLE_ENTRIES"]
MAX_MAP_ENTRIES = LIMITS["MAX_MAP_ENTRIES"]
MAX_KEYS = LIMITS["MAX_KEYS"]
MAX_ACTIONS = LIMITS["MAX_ACTIONS"]
MAX_PARAMS = LIMITS["MAX_PARAMS"]
MAX_LAYERS = LIMITS["MAX_LAYERS"]
MAX_TREES = LIMITS["MAX_TREES"]
MAX_DEPTH = LIMITS["MAX_TREE_DEPTH"]

MODEL_ARGS = {
    "mlp": ("in", "out", "weight", "max_weight", "input"),
    "tree": ("in", "out", "depth", "input"),
    "forest": ("in", "out", "trees", "depth", "input"),
    "linear": ("in", "out", "weight", "max_weight", "input"),
}
MODEL_REQUIRED = {"mlp": ("in", "out"), "tree": ("in", "out", "depth"),
                  "forest": ("in", "out", "trees", "depth"), "linear": ("in", "out")}
WEIGHT_TYPES = ("i8", "i16", "i32")
MATCH_KINDS = ("exact", "lpm", "ternary", "range")
MAP_KINDS = ("counter", "array", "hash")
MODES = ("enforce", "shadow")
KIND_WORD = {A.ConstDecl: "constant", A.ModelDecl: "model", A.MapDecl: "map",
             A.TableDecl: "table", A.ActionDecl: "action"}


def _const_env(st: State) -> Env:
    return Env(st, "const", what="a constant expression")


def _pure_env(st: State, what: str) -> Env:
    return Env(st, "pure", what=what)


def _in_range(st: State, e: A.Expr, lo: int, hi: int, what: str) -> Optional[int]:
    v = const_int(_const_env(st), e, what)
    if v is None:
        return None
    if not lo <= v <= hi:
        st.error(e.span, f"{what} must be between {lo} and {hi}, found {v}")
        return None
    return v


# ------------------------------------------------------------------ types

def resolve_type(st: Optional[State], ref: A.TypeRef, *, arrays: bool) -> Optional[A.Type]:
    """The type a TypeRef names; reports unknown names and misplaced arrays (when st is given)."""
    if not arrays or ref.size is None:
        return resolve_scalar_type(st, ref)
    base = base_type(st, ref)
    if base is None or st is None:
        return None
    n = _in_range(st, ref.size, 1, MAX_ARRAY, "an array length")
    if isinstance(base, A.BoolT):
        st.error(ref.span, "arrays of bool are not supported; use u8")
        return None
    return A.ArrayT(base, n) if n is not None else None


# ------------------------------------------------------------------ program header

def check_hook(st: State) -> None:
    hooks = st.program.of(A.HookDecl)
    if not hooks:
        st.error(A.Span(st.program.file, 1, 1, 1, 1),
                 f"program has no hook declaration; add 'hook NAME;' (hooks: {', '.join(HOOKS)})")
        return
    for extra in hooks[1:]:
        st.error(extra.span, f"a program attaches to exactly one hook; '{hooks[0].name}' "
                 f"is declared at line {hooks[0].span.line}")
    h = hooks[0]
    if h.name not in HOOKS:
        hint = did_you_mean(h.name, HOOKS) or f"; known hooks: {', '.join(HOOKS)}"
        st.error(h.name_span, f"unknown hook '{h.name}'{hint}")
        return
    st.spec = HOOKS[h.name]


def check_mode(st: State) -> None:
    modes = st.program.of(A.ModeDecl)
    for extra in modes[1:]:
        st.error(extra.span, f"mode is already declared at line {modes[0].span.line}")
    for m in modes[:1]:
        if m.mode not in MODES:
            hint = did_you_mean(m.mode, MODES) or "; expected 'enforce' or 'shadow'"
            st.error(m.name_span, f"unknown mode '{m.mode}'{hint}")


def collect_names(st: State) -> None:
    """Enter every named declaration; a name may be declared once across all kinds."""
    for d in st.program.decls:
        kind = KIND_WORD.get(type(d))
        if kind is None:
            continue
        prev = st.decls.get(d.name)
        if prev is not None:
            st.error(d.name_span, f"'{d.name}' is already declared as a {KIND_WORD[type(prev)]} "
                     f"at line {prev.span.line}")
            # still usable as what it is (a table listing a duplicated action finds it),
            # unless the first declaration is of the same kind
            own = {A.TableDecl: st.tables, A.ActionDecl: st.actions}.get(type(d))
            if own is not None and d.name not in own:
                own[d.name] = d
            continue
        if isinstance(d, A.ModelDecl) and (d.name in BUILTINS or d.name in HELPER_BY_NAME):
            st.error(d.name_span, f"model '{d.name}' has the name of a built-in function")
            continue
        st.decls[d.name] = d
        if isinstance(d, A.ConstDecl):
            st.later_consts.add(d.name)
        elif isinstance(d, A.ModelDecl):
            st.models[d.name] = d
        elif isinstance(d, A.MapDecl):
            st.maps[d.name] = d
        elif isinstance(d, A.TableDecl):
            st.tables[d.name] = d
        elif isinstance(d, A.ActionDecl):
            st.actions[d.name] = d


# ------------------------------------------------------------------ constants

def check_const(st: State, c: A.ConstDecl) -> None:
    """Fold a constant; later declarations see it (earlier ones cannot)."""
    env = _const_env(st)
    mine = st.decls.get(c.name) is c
    if mine:
        st.later_consts.discard(c.name)
    if c.type is not None:
        ty = resolve_type(st, c.type, arrays=False)
        if ty is None or not expect(env, c.value, ty, f"the value of constant '{c.name}'"):
            return
    else:
        ty = infer(env, c.value)
        if ty is None:
            return
        if isinstance(ty, A.ArrayT):
            st.error(c.value.span, "a constant cannot be an array")
            return
    if c.value.const is None:
        st.error(c.value.span, f"the value of constant '{c.name}' is not a constant expression")
        return
    if not mine:
        return
    if isinstance(ty, A.LitT):
        concrete = default_int(c.value.const)
        if concrete is None:
            st.error(c.value.span, f"constant value {c.value.const} does not fit in a 64-bit integer")
            return
        st.untyped_consts.add(c.name)
        st.consts[c.name] = A.ConstSym(c.name, concrete, c.value.const)
        finalize(env, c.value)
        return
    st.consts[c.name] = A.ConstSym(c.name, ty, c.value.const)


# ------------------------------------------------------------------ models

def check_model(st: State, m: A.ModelDecl) -> None:
    if m.kind not in MODEL_ARGS:
        st.error(m.kind_span, f"unknown model kind '{m.kind}'" + did_you_mean(m.kind, MODEL_ARGS))
        for a in m.args:
            if a.name in ("in", "out") and isinstance(a.value, A.Expr):
                _in_range(st, a.value, 1, MAX_IO, f"'{a.name}'")
        return
    allowed = MODEL_ARGS[m.kind]
    seen: dict[str, A.ModelArg] = {}
    for a in m.args:
        if a.name not in allowed:
            st.error(a.span, f"a {m.kind} model has no argument '{a.name}'" + did_you_mean(a.name, allowed))
        elif a.name in seen:
            st.error(a.span, f"argument '{a.name}' is given twice")
        else:
            seen[a.name] = a
            _model_arg(st, a)
    for req in MODEL_REQUIRED[m.kind]:
        if req not in seen:
            st.error(m.name_span, f"model '{m.name}' ({m.kind}) needs the argument '{req}'")
    if "max_weight" in seen and seen["max_weight"].value.const is not None:
        wtype = seen["weight"].value.name if "weight" in seen else "i16"
        top = (1 << (int(wtype[1:]) - 1)) - 1 if wtype in WEIGHT_TYPES else None
        if top is not None and seen["max_weight"].value.const > top:
            st.error(seen["max_weight"].span, f"'max_weight' {seen['max_weight'].value.const} "
                                              f"does not fit the weight type {wtype} (at most {top})")
    if m.kind == "mlp":
        _mlp_layers(st, m)
    elif m.layers:
        extra = " (it is one dense(out) layer)" if m.kind == "linear" else ""
        st.error(m.layers[0].span, f"a {m.kind} model has no layers{extra}")


def _model_arg(st: State, a: A.ModelArg) -> None:
    if a.name == "weight":
        if not isinstance(a.value, A.TypeRef) or a.value.name not in WEIGHT_TYPES:
            st.error(a.span, f"'weight' must be one of {', '.join(WEIGHT_TYPES)}")
        return
    if a.name == "input":
        if not isinstance(a.value, tuple):
            st.error(a.span, "'input' must be a range: input = LO..HI")
            return
        lo = _in_range(st, a.value[0], I32.min, I32.max, "the low end of 'input'")
        hi = _in_range(st, a.value[1], I32.min, I32.max, "the high end of 'input'")
        if lo is not None and hi is not None and lo > hi:
            st.error(a.span, f"'input' range {lo}..{hi} is empty")
        return
    if isinstance(a.value, tuple):
        st.error(a.span, f"'{a.name}' takes one value, not a range")
        return
    if isinstance(a.value, A.TypeRef):
        st.error(a.span, f"'{a.name}' must be a number")
        return
    hi = {"in": MAX_IO, "out": MAX_IO, "depth": MAX_DEPTH, "trees": MAX_TREES,
          "max_weight": I32.max}[a.name]
    _in_range(st, a.value, 1, hi, f"'{a.name}'")


def _arg(layer: A.LayerDecl, name: str) -> Optional[A.ModelArg]:
    return next((a for a in layer.args if a.name == name), None)


def _mlp_layers(st: State, m: A.ModelDecl) -> None:
    if not m.layers:
        st.error(m.name_span, f"model '{m.name}' (mlp) needs layers: {{ dense(N); ... }}")
        return
    if len(m.layers) > MAX_LAYERS:
        st.error(m.layers[MAX_LAYERS].span, f"an mlp has at most {MAX_LAYERS} layers")
    io = model_io(m)
    width = io[0] if io else None      # values flowing into the next layer
    channels = 1
    seen_dense = False
    for layer in m.layers:
        if layer.kind == "dense":
            seen_dense = True
            width = _dense(st, layer)
        elif layer.kind == "conv1d":
            if seen_dense:
                st.error(layer.span, "conv1d layer after a dense layer; conv1d layers must come first")
            width, channels = _conv(st, layer, width, channels)
        else:
            st.error(layer.span, f"unknown layer kind '{layer.kind}'"
                     + did_you_mean(layer.kind, ("dense", "conv1d")))
            width = None
    last = m.layers[-1]
    if last.kind == "conv1d":
        st.error(last.span, "the last layer of an mlp must be dense")
    elif last.kind == "dense" and io and width is not None and width != io[1]:
        st.error(last.span, f"the last layer has {width} outputs but model '{m.name}' "
                 f"declares out = {io[1]}")


def _layer_leftovers(st: State, layer: A.LayerDecl, known: tuple[str, ...], usage: str) -> None:
    for a in layer.args:
        if a.name in known:
            continue
        if a.name == "" and isinstance(a.value, A.Name):
            st.error(a.span, f"unknown activation '{a.value.id}'" + did_you_mean(a.value.id, ("relu", "none")))
        elif a.name:
            st.error(a.span, f"{layer.kind} has no argument '{a.name}'" + did_you_mean(a.name, known))
        else:
            st.error(a.span, f"unexpected argument; {usage}")


def _dense(st: State, layer: A.LayerDecl) -> Optional[int]:
    _layer_leftovers(st, layer, ("out",), "use dense(N) or dense(N, relu)")
    a = _arg(layer, "out")
    if a is None:
        st.error(layer.span, "dense needs its size: dense(N)")
        return None
    return _in_range(st, a.value, 1, MAX_IO, "the size of a dense layer")


def _conv(st: State, layer: A.LayerDecl, width: Optional[int], in_ch: int):
    _layer_leftovers(st, layer, ("channels", "kernel"),
                     "use conv1d(channels = C, kernel = K) with an optional relu")
    vals = {}
    for name in ("channels", "kernel"):
        a = _arg(layer, name)
        if a is None:
            st.error(layer.span, f"conv1d needs '{name} = N'")
            vals[name] = None
        else:
            vals[name] = _in_range(st, a.value, 1, MAX_IO, f"'{name}'")
    c, k = vals["channels"], vals["kernel"]
    if width is None or c is None or k is None:
        return None, c or 1
    steps = width // in_ch           # conv1d follows the input or a conv1d: width divides exactly
    if k > steps:
        st.error(layer.span, f"conv1d kernel {k} is longer than its input of {steps} steps")
        return None, c
    out = (steps - k + 1) * c
    if out > MAX_IO:
        st.error(layer.span, f"conv1d output of {out} values exceeds {MAX_IO}")
        return None, c
    return out, c


# ------------------------------------------------------------------ maps

def check_map(st: State, m: A.MapDecl) -> None:
    if m.kind not in MAP_KINDS:
        st.error(m.kind_span, f"unknown map kind '{m.kind}'" + did_you_mean(m.kind, MAP_KINDS))
        return
    want = {"counter": 0, "array": 1, "hash": 2}[m.kind]
    usage = {"counter": "counter maps take no types: counter[N] (values are u64)",
             "array": "array maps need a value type: array<T>[N]",
             "hash": "hash maps need key and value types: hash<K, V>[N]"}[m.kind]
    if len(m.type_args) != want:
        st.error(m.type_args[0].span if m.type_args else m.kind_span, usage)
    else:
        for ref in m.type_args:
            resolve_int_type(st, ref, "a map key or value type")
    _in_range(st, m.size, 1, MAX_MAP_ENTRIES, "a map size")
    if m.percpu and m.kind != "counter":
        st.error(m.name_span, "only counter maps can be percpu")


# ------------------------------------------------------------------ tables

def check_table(st: State, t: A.TableDecl) -> None:
    _table_keys(st, t)
    _table_actions(st, t)
    _table_default(st, t)
    if t.size is None:
        st.error(t.name_span, f"table '{t.name}' has no size; add 'size = N;'")
    else:
        _in_range(st, t.size, 1, MAX_ENTRIES, "a table size")


def _table_keys(st: State, t: A.TableDecl) -> None:
    if not t.keys:
        st.error(t.name_span, f"table '{t.name}' has no keys")
    if len(t.keys) > MAX_KEYS:
        st.error(t.keys[MAX_KEYS].span, f"table '{t.name}' has {len(t.keys)} keys; "
                 f"at most {MAX_KEYS} are allowed")
    kinds: list[str] = []
    for k in t.keys:
        expect_int(_pure_env(st, "a table key"), k.expr, "a table key")
        if k.match not in MATCH_KINDS:
            st.error(k.match_span, f"unknown match kind '{k.match}'" + did_you_mean(k.match, MATCH_KINDS))
            continue
        if k.match == "lpm" and "lpm" in kinds:
            st.error(k.match_span, f"table '{t.name}' has more than one lpm key")
        elif (k.match == "lpm" and {"ternary", "range"} & set(kinds)) or \
                (k.match in ("ternary", "range") and "lpm" in kinds):
            st.error(k.match_span, f"table '{t.name}' mixes lpm with ternary or range keys; "
                     "lpm selects by prefix length, ternary and range by priority")
        kinds.append(k.match)


def _table_actions(st: State, t: A.TableDecl) -> None:
    if not t.actions:
        st.error(t.name_span, f"table '{t.name}' has no actions")
    if len(t.actions) > MAX_ACTIONS:
        st.error(t.actions[MAX_ACTIONS].span, f"a table has at most {MAX_ACTIONS} actions")
    seen: set[str] = set()
    for ref in t.actions:
        if ref.name not in st.actions:
            st.error(ref.span, f"unknown action '{ref.name}'" + did_you_mean(ref.name, st.actions))
        elif ref.name in seen:
            st.error(ref.span, f"action '{ref.name}' is listed twice in table '{t.name}'")
        seen.add(ref.name)


def _table_default(st: State, t: A.TableDecl) -> None:
    listed = [r.name for r in t.actions if r.name in st.actions]
    if t.default is None:
        first = next((n for n in listed if not st.actions[n].params), None)
        if first is None:
            if listed:
                st.error(t.name_span, f"table '{t.name}' needs a default_action: "
                         "each of its actions takes parameters")
            return
        t.default = A.ActionRef(first, [], t.name_span)     # the rule made explicit for the compiler
        return
    ref = t.default
    if ref.name not in st.actions:
        st.error(ref.span, f"unknown action '{ref.name}'" + did_you_mean(ref.name, st.actions))
        return
    if ref.name not in listed:
        st.error(ref.span, f"default action '{ref.name}' is not one of the actions of table '{t.name}'")
    params = st.actions[ref.name].params
    if len(ref.args) != len(params):
        st.error(ref.span, f"action '{ref.name}' takes {len(params)} argument"
                 f"{'' if len(params) == 1 else 's'}, found {len(ref.args)}")
        return
    env = _const_env(st)
    for arg, p in zip(ref.args, params):
        ty = resolve_int_type(None, p.type)
        if ty is not None:
            const_int(env, arg, f"argument '{p.name}' of action '{ref.name}'", ty)


# ------------------------------------------------------------------ guards

def check_guards(st: State) -> None:
    guards = st.program.of(A.GuardDecl)
    for extra in guards[1:]:
        st.error(extra.span, f"guard block is already declared at line {guards[0].span.line}")
    for g in guards:
        for rule in g.rules:
            if isinstance(rule, A.GuardAllow):
                for v in rule.values:
                    _guard_decision(st, v)
            else:
                _guard_decision(st, rule.value)
                limit = const_int(_const_env(st), rule.limit, "a max_streak limit", U32)
                if limit is not None and limit < 1:
                    st.error(rule.limit.span, f"max_streak limit must be at least 1, found {limit}")
                expect_int(_pure_env(st, "a guard key"), rule.key, "a guard key")


def _guard_decision(st: State, e: A.Expr) -> None:
    v = const_int(_pure_env(st, "a guard value"), e, "a guard value")
    if v is not None and st.spec is not None and not st.spec.decision.allowed(v):
        st.error(e.span, f"{v} is not a decision of hook '{st.hook_name}' ({decision_words(st)})")


def decision_words(st: State) -> str:
    d = st.spec.decision
    names = ", ".join(f"{n} = {v}" for n, v in d.names.items())
    return f"DEFAULT, {names}, or {d.lo}..{d.hi}"
