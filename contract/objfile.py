"""The .rmtb object: an in-memory model, a writer and a strict reader.

Layout (docs/object-format.md): a HEADER record, a table of SECTION records,
then the sections, each 8-byte aligned.  Record sections hold `count` records
of the size given in contract/objformat.py; cross references are indexes into
other sections, strings are offsets into STRINGS.  The reader treats every byte
as hostile and raises ObjError naming the section and the reason, like the C
loader does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rmt.contract import objformat as F
from rmt.contract.isa import INSN_SIZE, Insn
from rmt.contract.objformat import (Activation, GuardKind, LayerKind, MapKind, MatchKind,
                                ModelKind, Section)
from rmt.contract.hooks import HOOK_BY_ID, HookSpec, hook_hash


class ObjError(Exception):
    """A malformed object: `where` names the section (and record) at fault."""

    def __init__(self, where: str, why: str):
        super().__init__(f"{where}: {why}")
        self.where = where
        self.why = why


@dataclass
class Key:
    name: str
    kind: MatchKind
    bits: int


@dataclass
class Param:
    name: str
    offset: int
    bits: int
    signed: bool


@dataclass
class Action:
    name: str
    params: list[Param] = field(default_factory=list)

    @property
    def param_size(self) -> int:
        return max((p.offset + p.bits // 8 for p in self.params), default=0)


@dataclass
class Table:
    name: str
    keys: list[Key]
    actions: list[Action]
    max_entries: int
    default_action: int = 0
    default_params: bytes = b""

    def __post_init__(self) -> None:
        self.default_params = bytes(self.default_params).ljust(self.param_size, b"\0")

    @property
    def param_size(self) -> int:
        """Size of the PARAMS region: the largest action's, rounded up to 8."""
        return (max((a.param_size for a in self.actions), default=0) + 7) // 8 * 8


@dataclass
class Layer:
    kind: LayerKind
    act: Activation
    n_in: int
    n_out: int
    in_ch: int = 1
    out_ch: int = 1
    kernel: int = 1

    @property
    def macs(self) -> int:
        if self.kind == LayerKind.CONV1D:
            return self.n_out * self.in_ch * self.kernel
        return self.n_out * self.n_in


@dataclass
class Model:
    name: str
    kind: ModelKind
    n_in: int
    n_out: int
    weight_bits: int = 16
    layers: list[Layer] = field(default_factory=list)
    trees: int = 0
    depth: int = 0
    in_lo: int = -(1 << 31)
    in_hi: int = (1 << 31) - 1
    max_abs_weight: int = 0      # 0: bounded by weight_bits only


@dataclass
class Map:
    name: str
    kind: MapKind
    key_bits: int
    value_bits: int
    max_entries: int
    percpu: bool = False
    private: bool = False        # MAP_PRIVATE: never read out by the control plane


@dataclass
class TraceField:
    name: str
    bits: int
    signed: bool


@dataclass
class TraceFmt:
    name: str
    fields: list[TraceField]


@dataclass
class Guard:
    kind: GuardKind
    a: int
    b: int = 0
    c: int = 0


@dataclass
class SrcLoc:
    pc: int
    file: str
    line: int
    col: int


@dataclass
class Symbol:
    name: str
    offset: int
    size: int
    bits: int
    signed: bool


@dataclass
class Program:
    name: str
    hook: HookSpec
    code: list[Insn]
    scratch_size: int
    mode: int = F.MODE_ENFORCE
    tables: list[Table] = field(default_factory=list)
    models: list[Model] = field(default_factory=list)
    maps: list[Map] = field(default_factory=list)
    traces: list[TraceFmt] = field(default_factory=list)
    guards: list[Guard] = field(default_factory=list)
    srcmap: list[SrcLoc] = field(default_factory=list)
    symbols: list[Symbol] = field(default_factory=list)

    def trips_map(self) -> int | None:
        """Index of the counter map whose slot 0 counts guard trips (the map a TRIPS guard
        record names), or None when the program declares none or names no counter map."""
        for g in self.guards:
            if g.kind == GuardKind.TRIPS and 0 <= g.c < len(self.maps) \
                    and self.maps[g.c].kind == MapKind.COUNTER and self.maps[g.c].max_entries >= 1:
                return g.c
        return None

    def location(self, pc: int) -> SrcLoc | None:
        """The source location of instruction pc (the last srcmap entry at or before it)."""
        best = None
        for loc in self.srcmap:
            if loc.pc > pc:
                break
            best = loc
        return best


# ---------------------------------------------------------------- writer

class _Strings:
    def __init__(self) -> None:
        self.buf = bytearray(b"\0")
        self.index: dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        if s not in self.index:
            self.index[s] = len(self.buf)
            self.buf += s.encode() + b"\0"
        return self.index[s]


def write(prog: Program) -> bytes:
    """Serialize a program to .rmtb bytes."""
    st = _Strings()
    secs: dict[Section, tuple[int, bytes]] = {}

    def rec_section(kind: Section, recs: list[bytes]) -> None:
        secs[kind] = (len(recs), b"".join(recs))

    data = bytearray()
    keys, actions, params, tables = [], [], [], []
    for t in prog.tables:
        key_first, action_first = len(keys), len(actions)
        for k in t.keys:
            keys.append(F.KEY.pack(name=st.add(k.name), kind=k.kind, bits=k.bits))
        for a in t.actions:
            actions.append(F.ACTION.pack(name=st.add(a.name), param_size=a.param_size,
                                         nparams=len(a.params), param_first=len(params)))
            for p in a.params:
                params.append(F.PARAM.pack(name=st.add(p.name), offset=p.offset,
                                           type=F.type_byte(p.bits, p.signed)))
        dp = t.default_params.ljust(t.param_size, b"\0")
        tables.append(F.TABLE.pack(
            name=st.add(t.name), max_entries=t.max_entries, nkeys=len(t.keys),
            nactions=len(t.actions), param_size=t.param_size, key_first=key_first,
            action_first=action_first, default_action=t.default_action,
            default_params=len(data)))
        data += dp
    layers, models = [], []
    for m in prog.models:
        models.append(F.MODEL.pack(
            name=st.add(m.name), kind=m.kind, weight_bits=m.weight_bits, nlayers=len(m.layers),
            n_in=m.n_in, n_out=m.n_out, layer_first=len(layers), trees=m.trees, depth=m.depth,
            in_lo=m.in_lo, in_hi=m.in_hi, max_abs_weight=m.max_abs_weight))
        for ly in m.layers:
            layers.append(F.LAYER.pack(kind=ly.kind, act=ly.act, n_in=ly.n_in, n_out=ly.n_out,
                                       in_ch=ly.in_ch, out_ch=ly.out_ch, kernel=ly.kernel))
    maps = [F.MAP.pack(name=st.add(m.name), kind=m.kind, key_bits=m.key_bits,
                       value_bits=m.value_bits, flags=(F.MAP_PERCPU if m.percpu else 0)
                       | (F.MAP_PRIVATE if m.private else 0),
                       max_entries=m.max_entries) for m in prog.maps]
    traces, tfields = [], []
    for tr in prog.traces:
        traces.append(F.TRACE.pack(name=st.add(tr.name), nfields=len(tr.fields),
                                   field_first=len(tfields)))
        tfields += [F.TRACE_FIELD.pack(name=st.add(f.name), type=F.type_byte(f.bits, f.signed))
                    for f in tr.fields]
    guards = [F.GUARD.pack(kind=g.kind, a=g.a, b=g.b, c=g.c) for g in prog.guards]
    src = [F.SRC.pack(pc=s.pc, file=st.add(s.file), line=s.line, col=s.col) for s in prog.srcmap]
    syms = [F.SYM.pack(name=st.add(s.name), offset=s.offset, size=s.size,
                       type=F.type_byte(s.bits, s.signed)) for s in prog.symbols]

    rec_section(Section.PROG, [F.PROG.pack(
        hook_id=prog.hook.id, hook_hash=hook_hash(prog.hook), ctx_size=prog.hook.ctx_size,
        scratch_size=prog.scratch_size, mode=prog.mode, name=st.add(prog.name),
        ninsns=len(prog.code))])
    secs[Section.CODE] = (len(prog.code), b"".join(i.encode() for i in prog.code))
    for kind, recs in ((Section.TABLES, tables), (Section.KEYS, keys),
                       (Section.ACTIONS, actions), (Section.PARAMS, params),
                       (Section.MODELS, models), (Section.LAYERS, layers), (Section.MAPS, maps),
                       (Section.TRACES, traces), (Section.TRACE_FIELDS, tfields),
                       (Section.GUARDS, guards), (Section.SRCMAP, src), (Section.SYMBOLS, syms)):
        if recs:
            rec_section(kind, recs)
    if data:
        secs[Section.DATA] = (len(data), bytes(data))
    secs[Section.STRINGS] = (len(st.buf), bytes(st.buf))

    order = sorted(secs)
    off = F.HEADER.size + F.SECTION.size * len(order)
    table, body = [], bytearray()
    for kind in order:
        count, blob = secs[kind]
        pad = (-off) % 8
        body += b"\0" * pad
        off += pad
        table.append(F.SECTION.pack(kind=kind, count=count, offset=off, size=len(blob)))
        body += blob
        off += len(blob)
    header = F.HEADER.pack(magic=F.OBJ_MAGIC, version_major=F.OBJ_VERSION_MAJOR,
                           version_minor=F.OBJ_VERSION_MINOR, nsections=len(order),
                           file_size=off)
    return header + b"".join(table) + bytes(body)


# ---------------------------------------------------------------- reader

class _Reader:
    def __init__(self, buf: bytes):
        self.buf = buf
        self.sections: dict[Section, tuple[int, int, int]] = {}   # kind -> (count, off, size)

    def header(self) -> None:
        buf, L = self.buf, F.LIMITS
        if len(buf) < F.HEADER.size:
            raise ObjError("header", f"file is {len(buf)} bytes, shorter than the "
                                     f"{F.HEADER.size}-byte header")
        if len(buf) > L["MAX_OBJ_SIZE"]:
            raise ObjError("header", f"file is {len(buf)} bytes, over the {L['MAX_OBJ_SIZE']} limit")
        h = F.HEADER.unpack(buf)
        if h["magic"] != F.OBJ_MAGIC:
            raise ObjError("header", f"bad magic 0x{h['magic']:08x} (not an .rmtb object)")
        if h["version_major"] != F.OBJ_VERSION_MAJOR:
            raise ObjError("header", f"object format version {h['version_major']}."
                                     f"{h['version_minor']} is not supported "
                                     f"(this reader handles {F.OBJ_VERSION_MAJOR}.x)")
        if h["file_size"] != len(buf):
            raise ObjError("header", f"file_size says {h['file_size']} bytes, file has {len(buf)}")
        if h["flags"] or h["pad"]:
            raise ObjError("header", "reserved fields are not zero")
        n = h["nsections"]
        if n > L["MAX_SECTIONS"]:
            raise ObjError("header", f"{n} sections, over the limit of {L['MAX_SECTIONS']}")
        table_end = F.HEADER.size + n * F.SECTION.size
        if table_end > len(buf):
            raise ObjError("section table", f"{n} entries run past the end of the file")
        for i in range(n):
            s = F.SECTION.unpack(buf, F.HEADER.size + i * F.SECTION.size)
            where = f"section table entry {i}"
            try:
                kind = Section(s["kind"])
            except ValueError:
                raise ObjError(where, f"unknown section kind {s['kind']}") from None
            if kind in self.sections:
                raise ObjError(where, f"section {kind.name} appears twice")
            if s["offset"] < table_end or s["offset"] % 8 or s["offset"] + s["size"] > len(buf):
                raise ObjError(kind.name, f"offset {s['offset']} size {s['size']} is outside "
                                          f"the file or not 8-byte aligned")
            rec = F.SECTION_RECORD[kind]
            unit = rec.size if rec else (INSN_SIZE if kind == Section.CODE else 1)
            if s["count"] * unit != s["size"]:
                raise ObjError(kind.name, f"count {s['count']} x {unit} bytes != size {s['size']}")
            self.sections[kind] = (s["count"], s["offset"], s["size"])
        for req in (Section.PROG, Section.CODE, Section.STRINGS):
            if req not in self.sections:
                raise ObjError("header", f"required section {req.name} is missing")

    def records(self, kind: Section) -> list[dict[str, int]]:
        if kind not in self.sections:
            return []
        count, off, _ = self.sections[kind]
        rec = F.SECTION_RECORD[kind]
        return [rec.unpack(self.buf, off + i * rec.size) for i in range(count)]

    def raw(self, kind: Section) -> bytes:
        if kind not in self.sections:
            return b""
        _, off, size = self.sections[kind]
        return self.buf[off:off + size]

    def string(self, off: int, where: str) -> str:
        strings = self.raw(Section.STRINGS)
        if not strings or strings[-1] != 0:
            raise ObjError("STRINGS", "string table is empty or not NUL-terminated")
        if off >= len(strings):
            raise ObjError(where, f"string offset {off} is outside the string table")
        end = strings.index(b"\0", off)
        try:
            return strings[off:end].decode()
        except UnicodeDecodeError:
            raise ObjError(where, f"string at offset {off} is not UTF-8") from None

    def slice(self, kind: Section, first: int, n: int, where: str) -> list[dict[str, int]]:
        recs = self.records(kind)
        if first + n > len(recs):
            raise ObjError(where, f"refers to {kind.name}[{first}..{first + n}) but the section "
                                  f"has {len(recs)} records")
        return recs[first:first + n]


def _limit(where: str, what: str, value: int, limit_name: str, low: int = 0) -> None:
    lim = F.LIMITS[limit_name]
    if not low <= value <= lim:
        raise ObjError(where, f"{what} {value} is outside [{low}, {lim}]")


def _pads_zero(where: str, rec: dict[str, int]) -> None:
    if any(v for k, v in rec.items() if k.startswith("pad")):
        raise ObjError(where, "padding bytes are not zero")


def read(buf: bytes) -> Program:
    """Parse and structurally check .rmtb bytes; raise ObjError on anything malformed."""
    r = _Reader(bytes(buf))
    r.header()
    progs = r.records(Section.PROG)
    if len(progs) != 1:
        raise ObjError("PROG", f"expected 1 record, found {len(progs)}")
    p = progs[0]
    _pads_zero("PROG", p)
    hook = HOOK_BY_ID.get(p["hook_id"])
    if hook is None:
        raise ObjError("PROG", f"unknown hook id {p['hook_id']}")
    if p["hook_hash"] != hook_hash(hook) or p["ctx_size"] != hook.ctx_size:
        raise ObjError("PROG", f"built for another layout of hook {hook.name} "
                               f"(hash 0x{p['hook_hash']:08x}, expected 0x{hook_hash(hook):08x})")
    _limit("PROG", "scratch size", p["scratch_size"], "MAX_SCRATCH")
    if p["mode"] not in (F.MODE_ENFORCE, F.MODE_SHADOW):
        raise ObjError("PROG", f"unknown mode {p['mode']}")
    ncode, code_off, _ = r.sections[Section.CODE]
    if p["ninsns"] != ncode:
        raise ObjError("PROG", f"ninsns {p['ninsns']} != CODE count {ncode}")
    _limit("CODE", "instruction count", ncode, "MAX_INSNS", 1)
    code = [Insn.decode(r.buf, code_off + i * INSN_SIZE) for i in range(ncode)]

    data = r.raw(Section.DATA)
    tables = []
    for i, t in enumerate(r.records(Section.TABLES)):
        w = f"TABLES[{i}]"
        _pads_zero(w, t)
        _limit(w, "key count", t["nkeys"], "MAX_KEYS", 1)
        _limit(w, "action count", t["nactions"], "MAX_ACTIONS", 1)
        _limit(w, "max_entries", t["max_entries"], "MAX_TABLE_ENTRIES", 1)
        _limit(w, "param_size", t["param_size"], "MAX_PARAM_SIZE")
        keys = []
        for j, k in enumerate(r.slice(Section.KEYS, t["key_first"], t["nkeys"], w)):
            kw = f"{w} key {j}"
            _pads_zero(kw, k)
            if k["kind"] not in MatchKind.__members__.values() or not 1 <= k["bits"] <= 64:
                raise ObjError(kw, f"bad match kind {k['kind']} or width {k['bits']}")
            keys.append(Key(r.string(k["name"], kw), MatchKind(k["kind"]), k["bits"]))
        actions = []
        for j, a in enumerate(r.slice(Section.ACTIONS, t["action_first"], t["nactions"], w)):
            aw = f"{w} action {j}"
            _pads_zero(aw, a)
            _limit(aw, "parameter count", a["nparams"], "MAX_PARAMS")
            ps = []
            for q, pr in enumerate(r.slice(Section.PARAMS, a["param_first"], a["nparams"], aw)):
                bits, signed = F.type_from_byte(pr["type"])
                if bits not in (8, 16, 32, 64) or pr["offset"] % (bits // 8) \
                        or pr["offset"] + bits // 8 > t["param_size"]:
                    raise ObjError(f"{aw} param {q}", "bad type, misaligned, or outside the "
                                                      "table's parameter block")
                ps.append(Param(r.string(pr["name"], aw), pr["offset"], bits, signed))
            act = Action(r.string(a["name"], aw), ps)
            if act.param_size != a["param_size"]:
                raise ObjError(aw, f"param_size {a['param_size']} does not match its parameters")
            actions.append(act)
        if t["default_action"] >= t["nactions"]:
            raise ObjError(w, f"default action {t['default_action']} does not exist")
        if t["default_params"] + t["param_size"] > len(data):
            raise ObjError(w, "default parameters lie outside the DATA section")
        tbl = Table(r.string(t["name"], w), keys, actions, t["max_entries"], t["default_action"],
                    data[t["default_params"]:t["default_params"] + t["param_size"]])
        if tbl.param_size != t["param_size"]:
            raise ObjError(w, f"param_size {t['param_size']} != {tbl.param_size} from its actions")
        tables.append(tbl)
    _limit("TABLES", "table count", len(tables), "MAX_TABLES")

    models = []
    for i, m in enumerate(r.records(Section.MODELS)):
        w = f"MODELS[{i}]"
        _pads_zero(w, m)
        if m["kind"] not in ModelKind.__members__.values():
            raise ObjError(w, f"unknown model kind {m['kind']}")
        _limit(w, "input size", m["n_in"], "MAX_MODEL_IO", 1)
        _limit(w, "output size", m["n_out"], "MAX_MODEL_IO", 1)
        if m["weight_bits"] not in (8, 16, 32):
            raise ObjError(w, f"weight width {m['weight_bits']} is not 8, 16 or 32")
        _limit(w, "layer count", m["nlayers"], "MAX_LAYERS")
        layers = []
        for j, ly in enumerate(r.slice(Section.LAYERS, m["layer_first"], m["nlayers"], w)):
            lw = f"{w} layer {j}"
            _pads_zero(lw, ly)
            if ly["kind"] not in LayerKind.__members__.values() \
                    or ly["act"] not in Activation.__members__.values():
                raise ObjError(lw, "unknown layer kind or activation")
            layers.append(Layer(LayerKind(ly["kind"]), Activation(ly["act"]), ly["n_in"],
                                ly["n_out"], ly["in_ch"], ly["out_ch"], ly["kernel"]))
        model = Model(r.string(m["name"], w), ModelKind(m["kind"]), m["n_in"], m["n_out"],
                      m["weight_bits"], layers, m["trees"], m["depth"], m["in_lo"], m["in_hi"],
                      m["max_abs_weight"])
        check_model_shape(model, w)
        models.append(model)
    _limit("MODELS", "model count", len(models), "MAX_MODELS")

    maps = []
    for i, m in enumerate(r.records(Section.MAPS)):
        w = f"MAPS[{i}]"
        known_flags = F.MAP_PERCPU | F.MAP_PRIVATE
        if m["kind"] not in MapKind.__members__.values() or m["flags"] & ~known_flags:
            raise ObjError(w, f"unknown map kind {m['kind']} or flags {m['flags']}")
        if m["value_bits"] not in (8, 16, 32, 64) or not 1 <= m["key_bits"] <= 64:
            raise ObjError(w, f"bad key width {m['key_bits']} or value width {m['value_bits']}")
        _limit(w, "max_entries", m["max_entries"], "MAX_MAP_ENTRIES", 1)
        maps.append(Map(r.string(m["name"], w), MapKind(m["kind"]), m["key_bits"],
                        m["value_bits"], m["max_entries"], bool(m["flags"] & F.MAP_PERCPU),
                        bool(m["flags"] & F.MAP_PRIVATE)))
    _limit("MAPS", "map count", len(maps), "MAX_MAPS")

    traces = []
    for i, t in enumerate(r.records(Section.TRACES)):
        w = f"TRACES[{i}]"
        _pads_zero(w, t)
        _limit(w, "field count", t["nfields"], "MAX_TRACE_FIELDS", 1)
        fs = []
        for f in r.slice(Section.TRACE_FIELDS, t["field_first"], t["nfields"], w):
            _pads_zero(w, f)
            bits, signed = F.type_from_byte(f["type"])
            if bits not in (8, 16, 32, 64):
                raise ObjError(w, f"bad field width {bits}")
            fs.append(TraceField(r.string(f["name"], w), bits, signed))
        traces.append(TraceFmt(r.string(t["name"], w), fs))
    _limit("TRACES", "trace format count", len(traces), "MAX_TRACES")

    guards = []
    for i, g in enumerate(r.records(Section.GUARDS)):
        if g["kind"] not in GuardKind.__members__.values():
            raise ObjError(f"GUARDS[{i}]", f"unknown guard kind {g['kind']}")
        guards.append(Guard(GuardKind(g["kind"]), g["a"], g["b"], g["c"]))
    _limit("GUARDS", "guard count", len(guards), "MAX_GUARDS")

    srcmap = []
    last_pc = -1
    for i, s in enumerate(r.records(Section.SRCMAP)):
        if s["pc"] <= last_pc or s["pc"] >= ncode:
            raise ObjError(f"SRCMAP[{i}]", f"pc {s['pc']} is out of order or past the code")
        last_pc = s["pc"]
        srcmap.append(SrcLoc(s["pc"], r.string(s["file"], "SRCMAP"), s["line"], s["col"]))
    symbols = []
    for i, s in enumerate(r.records(Section.SYMBOLS)):
        _pads_zero(f"SYMBOLS[{i}]", s)
        if s["offset"] + s["size"] > p["scratch_size"]:
            raise ObjError(f"SYMBOLS[{i}]", "symbol lies outside scratch")
        bits, signed = F.type_from_byte(s["type"])
        symbols.append(Symbol(r.string(s["name"], "SYMBOLS"), s["offset"], s["size"], bits, signed))

    return Program(r.string(p["name"], "PROG"), hook, code, p["scratch_size"], p["mode"], tables,
                   models, maps, traces, guards, srcmap, symbols)


def check_model_shape(m: Model, where: str) -> None:
    """Shape rules shared by the compiler's checks and the reader."""
    L = F.LIMITS
    if m.kind in (ModelKind.MLP, ModelKind.LINEAR):
        if not m.layers:
            raise ObjError(where, "an MLP or linear model needs at least one layer")
        if m.kind == ModelKind.LINEAR and (len(m.layers) != 1 or m.layers[0].kind != LayerKind.DENSE):
            raise ObjError(where, "a linear model is exactly one dense layer")
        width = m.n_in
        for j, ly in enumerate(m.layers):
            if ly.n_in != width:
                raise ObjError(where, f"layer {j} takes {ly.n_in} inputs but receives {width}")
            if not 1 <= ly.n_out <= L["MAX_MODEL_IO"]:
                raise ObjError(where, f"layer {j} has {ly.n_out} outputs, outside "
                                      f"[1, {L['MAX_MODEL_IO']}]")
            if ly.kind == LayerKind.CONV1D:
                if ly.in_ch < 1 or ly.out_ch < 1 or ly.kernel < 1 or ly.n_in % ly.in_ch:
                    raise ObjError(where, f"conv1d layer {j}: bad channels or kernel")
                steps = ly.n_in // ly.in_ch - ly.kernel + 1
                if steps < 1 or ly.n_out != steps * ly.out_ch:
                    raise ObjError(where, f"conv1d layer {j}: {ly.n_out} outputs do not match "
                                          f"({ly.n_in}/{ly.in_ch} - {ly.kernel} + 1) x {ly.out_ch}")
            width = ly.n_out
        if width != m.n_out:
            raise ObjError(where, f"last layer gives {width} outputs, the model declares {m.n_out}")
    else:
        if m.layers:
            raise ObjError(where, "trees and forests have no layers")
        trees = 1 if m.kind == ModelKind.TREE else m.trees
        if not 1 <= trees <= L["MAX_TREES"] or (m.kind == ModelKind.TREE and m.trees not in (0, 1)):
            raise ObjError(where, f"tree count {m.trees} outside [1, {L['MAX_TREES']}]")
        if not 1 <= m.depth <= L["MAX_TREE_DEPTH"]:
            raise ObjError(where, f"tree depth {m.depth} outside [1, {L['MAX_TREE_DEPTH']}]")
    if m.in_lo > m.in_hi:
        raise ObjError(where, f"input range [{m.in_lo}, {m.in_hi}] is empty")
