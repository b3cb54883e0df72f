"""Binary layouts of the .rmtb object and the model-weights blob: the one definition.

Each on-disk record is declared once here as a list of (field, type).  From it
come the Python struct formats used by contract/objfile.py and
contract/weights.py, and the C structs in the generated header
vm_kernel/core/rmt_format.h that the C loader reads.  All integers are
little-endian; records have no implicit padding (explicit `pad` fields are
zero and checked).  docs/object-format.md describes the layout for readers.
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

OBJ_MAGIC = 0x42544D52        # b"RMTB"
OBJ_VERSION_MAJOR = 1
OBJ_VERSION_MINOR = 0
WEIGHTS_MAGIC = 0x57544D52    # b"RMTW"
WEIGHTS_VERSION = 1

_CTYPES = {"u8": ("B", "__u8"), "u16": ("H", "__u16"), "u32": ("I", "__u32"),
           "u64": ("Q", "__u64"), "i16": ("h", "__s16"), "i32": ("i", "__s32"),
           "i64": ("q", "__s64")}


def field_size(t: str) -> int:
    """Bytes of a record field type ("u8" .. "i64"): the one size table of the record formats
    (the C header generator and the format docs both ask here)."""
    return struct.calcsize("<" + _CTYPES[t][0])


@dataclass(frozen=True)
class Record:
    """A fixed-size little-endian record; also emitted as a C struct."""
    name: str
    doc: str
    fields: tuple[tuple[str, str], ...]

    @property
    def fmt(self) -> str:
        return "<" + "".join(_CTYPES[t][0] for _, t in self.fields)

    @property
    def size(self) -> int:
        return struct.calcsize(self.fmt)

    def pack(self, **values: int) -> bytes:
        names = [n for n, _ in self.fields]
        unknown = set(values) - set(names)
        if unknown:
            raise KeyError(f"{self.name}: unknown fields {sorted(unknown)}")
        return struct.pack(self.fmt, *(values.get(n, 0) for n in names))

    def unpack(self, buf: bytes, offset: int = 0) -> dict[str, int]:
        vals = struct.unpack_from(self.fmt, buf, offset)
        return dict(zip((n for n, _ in self.fields), vals))


class Section(enum.IntEnum):
    PROG = 1          # one ProgRec
    CODE = 2          # u64 instructions
    TABLES = 3        # TableRec
    KEYS = 4          # KeyRec, referenced by TableRec.key_first
    ACTIONS = 5       # ActionRec, referenced by TableRec.action_first
    PARAMS = 6        # ParamRec, referenced by ActionRec.param_first
    MODELS = 7        # ModelRec
    LAYERS = 8        # LayerRec, referenced by ModelRec.layer_first
    MAPS = 9          # MapRec
    TRACES = 10       # TraceRec
    TRACE_FIELDS = 11  # TraceFieldRec, referenced by TraceRec.field_first
    GUARDS = 12       # GuardRec
    STRINGS = 13      # NUL-terminated strings; offset 0 is ""
    SRCMAP = 14       # SrcRec, sorted by pc: pc -> file:line:col
    DATA = 15         # raw bytes (default action parameters)
    SYMBOLS = 16      # SymRec: scratch variables, for tools (optional)


class MatchKind(enum.IntEnum):
    EXACT = 0
    LPM = 1
    TERNARY = 2
    RANGE = 3


class ModelKind(enum.IntEnum):
    MLP = 1
    TREE = 2
    FOREST = 3
    LINEAR = 4


class LayerKind(enum.IntEnum):
    DENSE = 1
    CONV1D = 2


class Activation(enum.IntEnum):
    NONE = 0
    RELU = 1


class MapKind(enum.IntEnum):
    ARRAY = 1
    HASH = 2
    COUNTER = 3       # array of u64 counters, summed over CPUs when read


class GuardKind(enum.IntEnum):
    ALLOW = 1         # the final decision is DEFAULT or value a (one record per value)
    MAX_STREAK = 2    # decision a at most b times in a row per key (map c holds streaks)
    TRIPS = 3         # counter map c, slot 0: runs in which a guard replaced the decision


MAP_PERCPU = 1
MAP_PRIVATE = 2      # contents stay in the kernel: the control plane may not read the map
MODE_ENFORCE = 0
MODE_SHADOW = 1
TYPE_SIGNED = 0x80    # in a type byte: bits | TYPE_SIGNED for signed integers

HEADER = Record("obj_header", "file header, at offset 0", (
    ("magic", "u32"), ("version_major", "u16"), ("version_minor", "u16"),
    ("nsections", "u32"), ("file_size", "u32"), ("flags", "u32"), ("pad", "u32")))
SECTION = Record("section", "section table entry; the table follows the header", (
    ("kind", "u32"), ("count", "u32"), ("offset", "u32"), ("size", "u32")))
PROG = Record("prog", "the program: hook binding, mode, scratch size", (
    ("hook_id", "u32"), ("hook_hash", "u32"), ("ctx_size", "u32"), ("scratch_size", "u32"),
    ("mode", "u32"), ("name", "u32"), ("ninsns", "u32"), ("pad", "u32")))
TABLE = Record("table", "a match-action table", (
    ("name", "u32"), ("max_entries", "u32"), ("nkeys", "u16"), ("nactions", "u16"),
    ("param_size", "u32"), ("key_first", "u32"), ("action_first", "u32"),
    ("default_action", "u16"), ("pad", "u16"), ("default_params", "u32")))
KEY = Record("key", "one key field of a table; its value is the low `bits` of a u64", (
    ("name", "u32"), ("kind", "u8"), ("bits", "u8"), ("pad", "u16")))
ACTION = Record("action", "one action a table may select", (
    ("name", "u32"), ("param_size", "u32"), ("nparams", "u16"), ("pad", "u16"),
    ("param_first", "u32")))
PARAM = Record("param", "one action parameter at `offset` in the PARAMS region", (
    ("name", "u32"), ("offset", "u16"), ("type", "u8"), ("pad", "u8")))
MODEL = Record("model", "a model signature; weights arrive at run time", (
    ("name", "u32"), ("kind", "u8"), ("weight_bits", "u8"), ("nlayers", "u8"), ("pad", "u8"),
    ("n_in", "u32"), ("n_out", "u32"), ("layer_first", "u32"), ("trees", "u16"),
    ("depth", "u16"), ("in_lo", "i32"), ("in_hi", "i32"), ("max_abs_weight", "i32"),
    ("pad2", "u32")))
LAYER = Record("layer", "one MLP layer; conv1d views its input as [n_in/in_ch][in_ch]", (
    ("kind", "u8"), ("act", "u8"), ("pad", "u16"), ("n_in", "u32"), ("n_out", "u32"),
    ("in_ch", "u16"), ("out_ch", "u16"), ("kernel", "u16"), ("pad2", "u16")))
MAP = Record("map", "a map the program and the control plane share", (
    ("name", "u32"), ("kind", "u8"), ("key_bits", "u8"), ("value_bits", "u8"),
    ("flags", "u8"), ("max_entries", "u32")))
TRACE = Record("trace", "a trace record format: nfields u64 values", (
    ("name", "u32"), ("nfields", "u16"), ("pad", "u16"), ("field_first", "u32")))
TRACE_FIELD = Record("trace_field", "one field of a trace record", (
    ("name", "u32"), ("type", "u8"), ("pad", "u8"), ("pad2", "u16")))
GUARD = Record("guard", "a declared guard on the decision", (
    ("kind", "u32"), ("a", "i32"), ("b", "i32"), ("c", "i32")))
SRC = Record("src", "source location of the instructions from `pc` on", (
    ("pc", "u32"), ("file", "u32"), ("line", "u32"), ("col", "u32")))
SYM = Record("sym", "a named scratch variable", (
    ("name", "u32"), ("offset", "u32"), ("size", "u32"), ("type", "u8"), ("pad", "u8"),
    ("pad2", "u16")))

# Model weights blob (rmtctl model load): header, then per layer a WLayer
# record followed by its weights (weight_bits each, row-major [n_out][n_in],
# conv1d [out_ch][in_ch][kernel]) padded to 4 bytes, then int32 biases
# (n_out, or out_ch for conv1d).  Trees: per tree a WTree record, then nnodes
# WNode records, then nleaves * n_out int32 leaf values.
WHEADER = Record("weights_header", "model weights blob header", (
    ("magic", "u32"), ("version", "u16"), ("kind", "u8"), ("weight_bits", "u8"),
    ("n_in", "u32"), ("n_out", "u32"), ("nlayers", "u16"), ("ntrees", "u16"),
    ("model_version", "u32"), ("total_size", "u32"), ("shift", "u8"), ("pad", "u8"),
    ("pad2", "u16")))
WLAYER = Record("weights_layer", "one MLP layer's shape, scale and activation", (
    ("kind", "u8"), ("act", "u8"), ("shift", "u8"), ("pad", "u8"), ("n_in", "u32"),
    ("n_out", "u32"), ("in_ch", "u16"), ("out_ch", "u16"), ("kernel", "u16"), ("pad2", "u16")))
WTREE = Record("weights_tree", "one tree: node and leaf counts", (
    ("nnodes", "u32"), ("nleaves", "u32")))
WNODE = Record("weights_node", "a tree node: x[feature] <= threshold goes left; "
               "feature -1 is a leaf whose outputs start at leaf * n_out", (
                   ("feature", "i32"), ("threshold", "i32"), ("left", "u32"),
                   ("right", "u32"), ("leaf", "u32")))

OBJ_RECORDS = (HEADER, SECTION, PROG, TABLE, KEY, ACTION, PARAM, MODEL, LAYER, MAP,
               TRACE, TRACE_FIELD, GUARD, SRC, SYM)
WEIGHT_RECORDS = (WHEADER, WLAYER, WTREE, WNODE)

SECTION_RECORD: dict[Section, Record | None] = {
    Section.PROG: PROG, Section.CODE: None, Section.TABLES: TABLE, Section.KEYS: KEY,
    Section.ACTIONS: ACTION, Section.PARAMS: PARAM, Section.MODELS: MODEL,
    Section.LAYERS: LAYER, Section.MAPS: MAP, Section.TRACES: TRACE,
    Section.TRACE_FIELDS: TRACE_FIELD, Section.GUARDS: GUARD, Section.STRINGS: None,
    Section.SRCMAP: SRC, Section.DATA: None, Section.SYMBOLS: SYM,
}


def type_byte(bits: int, signed: bool) -> int:
    return bits | (TYPE_SIGNED if signed else 0)


def type_from_byte(b: int) -> tuple[int, bool]:
    return b & 0x7F, bool(b & TYPE_SIGNED)

# Limits shared by the compiler, the Python reader and the C loader.
LIMITS: dict[str, int] = {
    "MAX_INSNS": 32768,
    "MAX_SCRATCH": 4096,
    "MAX_TABLES": 64,
    "MAX_KEYS": 8,
    "MAX_ACTIONS": 32,
    "MAX_PARAMS": 16,
    "MAX_PARAM_SIZE": 256,
    "MAX_TABLE_ENTRIES": 1 << 20,
    "MAX_MODELS": 16,
    "MAX_LAYERS": 8,
    "MAX_MODEL_IO": 1024,
    "MAX_TREES": 64,
    "MAX_TREE_DEPTH": 16,
    "MAX_MAPS": 64,
    "MAX_MAP_ENTRIES": 1 << 20,
    "MAX_TRACES": 64,
    "MAX_TRACE_FIELDS": 16,
    "MAX_GUARDS": 64,
    "MAX_SECTIONS": 32,
    "MAX_OBJ_SIZE": 1 << 24,
    "MAX_WEIGHTS_SIZE": 1 << 24,
}
