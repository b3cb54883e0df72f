"""The /dev/rmt ioctl ABI (vm_kernel/uapi/rmt.h) as ctypes structures.

Hand-mirrored from the C header, field for field; tests/test_kernel_abi.py
compiles a C program against the header and checks every size, every field
offset and every command number against these, so the two cannot drift.
The rules of the header hold here too: fixed-width fields, user pointers as
u64 (`ctypes.addressof` of a buffer the caller keeps alive), explicit pads.
"""
from __future__ import annotations

import ctypes
from ctypes import c_char, c_int32, c_int64, c_uint8, c_uint16, c_uint32, c_uint64

from rmt.contract import hooks

ABI_VERSION = 1
IOC_MAGIC = 0xE7
MAX_KEYS = 8
MAX_PARAM_SIZE = 256
MAX_TRACE_FIELDS = 16
NR_ABORTS = 7
MAX_DECISIONS = hooks.MAX_DECISIONS     # the VM's decision counters (contract/hooks.py)
MAX_PROGS = 64
MAX_BATCH = 1024
MAX_ERR = 4096
MAX_CTX = 4096
MAX_OBJ_SIZE = 16 << 20

LOAD_F_JIT, LOAD_F_VERIFIED, LOAD_F_FORCED = 0x1, 0x2, 0x4
TABLE_INSERT, TABLE_MODIFY, TABLE_DELETE = 0, 1, 2
RUN_F_SHADOW = 0x1
HOOK_NR_FIRST, HOOK_NR_LAST = 0x40, 0x5F


class _S(ctypes.Structure):
    """Native alignment matches the C header's (which has no implicit padding)."""


class Version(_S):
    _fields_ = [("abi", c_uint32), ("max_progs", c_uint32), ("nr_cpus", c_uint32),
                ("max_trace_fields", c_uint32), ("entry_size", c_uint32),
                ("trace_rec_size", c_uint32), ("hooks", c_uint32), ("pad", c_uint32)]


class ProgLoad(_S):
    _fields_ = [("abi", c_uint32), ("flags", c_uint32), ("obj", c_uint64),
                ("obj_len", c_uint32), ("trace_capacity", c_uint32), ("seed", c_uint64),
                ("err", c_uint64), ("err_len", c_uint32), ("id", c_uint32)]


class ProgId(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32)]


class ProgList(_S):
    _fields_ = [("abi", c_uint32), ("count", c_uint32), ("ids", c_uint64)]


class ProgInfo(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("obj", c_uint64), ("obj_cap", c_uint32),
                ("obj_len", c_uint32), ("hook_id", c_uint32), ("engine", c_uint32),
                ("flags", c_uint32), ("ninsns", c_uint32), ("ntables", c_uint32),
                ("nmodels", c_uint32), ("nmaps", c_uint32), ("ntraces", c_uint32),
                ("load_time_ns", c_uint64)]


class Match(_S):
    _fields_ = [("a", c_uint64), ("b", c_uint64)]


class EntrySpec(_S):
    _fields_ = [("priority", c_uint32), ("action", c_uint16), ("nkeys", c_uint16),
                ("match", Match * MAX_KEYS), ("params", c_uint8 * MAX_PARAM_SIZE)]


class EntryDump(_S):
    _fields_ = [("entry", EntrySpec), ("hits", c_uint64)]


class TableUpdate(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("table", c_uint32), ("op", c_uint32),
                ("err", c_uint64), ("err_len", c_uint32), ("pad", c_uint32),
                ("entry", EntrySpec)]


class TableDump(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("table", c_uint32), ("start", c_uint32),
                ("count", c_uint32), ("pad", c_uint32), ("entries", c_uint64),
                ("misses", c_uint64)]


class ModelLoad(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("model", c_uint32),
                ("blob_len", c_uint32), ("blob", c_uint64), ("err", c_uint64),
                ("err_len", c_uint32), ("pad", c_uint32), ("version", c_uint64)]


class ModelInfo(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("model", c_uint32), ("pad", c_uint32),
                ("version", c_uint64), ("bytes", c_uint64), ("load_time_ns", c_uint64)]


class MapRead(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("map", c_uint32), ("count", c_uint32),
                ("cursor", c_uint64), ("keys", c_uint64), ("vals", c_uint64)]


class MapWrite(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("map", c_uint32), ("err_len", c_uint32),
                ("key", c_uint64), ("val", c_uint64), ("err", c_uint64)]


class Counters(_S):
    _fields_ = [("runs", c_uint64), ("aborts", c_uint64 * NR_ABORTS),
                ("bad_decisions", c_uint64), ("shadow_agree", c_uint64),
                ("shadow_disagree", c_uint64), ("trace_drops", c_uint64),
                ("model_overflows", c_uint64), ("map_drops", c_uint64),
                ("decision_lo", c_int64), ("ndecisions", c_uint32), ("pad", c_uint32),
                ("decisions", c_uint64 * MAX_DECISIONS)]


class StatsArg(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("c", Counters)]


class ProgRun(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("cpu", c_uint32), ("ctx_len", c_uint32),
                ("ctx", c_uint64), ("now", c_uint64), ("kernel_decision", c_int64),
                ("flags", c_uint32), ("pad", c_uint32), ("decision", c_int64),
                ("abort", c_uint32), ("abort_pc", c_int32)]


class TraceRec(_S):
    _fields_ = [("prog_id", c_uint32), ("fmt", c_uint32), ("cpu", c_uint32),
                ("nvals", c_uint32), ("ts", c_uint64), ("vals", c_uint64 * MAX_TRACE_FIELDS)]


# ---- candidate models (RMT_IOC_MODEL_STAGE, _MODEL_CTL, _MODEL_STATE)

MODEL_OP_PROMOTE, MODEL_OP_ROLLBACK, MODEL_OP_UNSTAGE = 3, 4, 5
MODEL_HISTORY = 16
TRACE_FMT_CANDIDATE = 0xFFFFFFFF


class ModelCtl(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("model", c_uint32), ("op", c_uint32),
                ("err", c_uint64), ("err_len", c_uint32), ("pad", c_uint32),
                ("version", c_uint64)]


class ModelEvent(_S):
    _fields_ = [("version", c_uint64), ("op", c_uint32), ("pad", c_uint32),
                ("agree", c_uint64), ("disagree", c_uint64)]


class ModelState(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("model", c_uint32), ("pad", c_uint32),
                ("version", c_uint64), ("cand_version", c_uint64), ("prev_version", c_uint64),
                ("agree", c_uint64), ("disagree", c_uint64), ("nevents", c_uint32),
                ("nhist", c_uint32), ("hist", ModelEvent * MODEL_HISTORY)]
# -- RMT_IOC_TABLE_BATCH (a block of its own at the end of the ABI, as in uapi/rmt.h)

class TableOp(_S):
    _fields_ = [("op", c_uint32), ("pad", c_uint32), ("entry", EntrySpec)]


class TableBatch(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("table", c_uint32), ("count", c_uint32),
                ("ops", c_uint64), ("err", c_uint64), ("err_len", c_uint32),
                ("failed", c_uint32)]


# -- RMT_IOC_TRACE_PEEK / RMT_IOC_TRACE_ACK (read, make durable, then acknowledge)

class TracePeek(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("count", c_uint32), ("pad", c_uint32),
                ("skip", c_uint64), ("pos", c_uint64), ("recs", c_uint64)]


class TraceAck(_S):
    _fields_ = [("abi", c_uint32), ("id", c_uint32), ("count", c_uint32), ("pad", c_uint32),
                ("pos", c_uint64)]


# The C names of the structures, for the layout test.
C_NAMES: dict[type[_S], str] = {
    Version: "rmt_ioc_version", ProgLoad: "rmt_ioc_prog_load", ProgId: "rmt_ioc_prog_id",
    ProgList: "rmt_ioc_prog_list", ProgInfo: "rmt_ioc_prog_info", Match: "rmt_ioc_match",
    EntrySpec: "rmt_ioc_entry", EntryDump: "rmt_ioc_entry_dump",
    TableUpdate: "rmt_ioc_table_update", TableDump: "rmt_ioc_table_dump",
    ModelLoad: "rmt_ioc_model_load", ModelInfo: "rmt_ioc_model_info",
    MapRead: "rmt_ioc_map_read", MapWrite: "rmt_ioc_map_write", Counters: "rmt_ioc_counters",
    StatsArg: "rmt_ioc_stats", ProgRun: "rmt_ioc_prog_run", TraceRec: "rmt_ioc_trace_rec",
    # candidate models
    ModelCtl: "rmt_ioc_model_ctl", ModelEvent: "rmt_ioc_model_event",
    ModelState: "rmt_ioc_model_state",
    TableOp: "rmt_ioc_table_op", TableBatch: "rmt_ioc_table_batch",
    TracePeek: "rmt_ioc_trace_peek", TraceAck: "rmt_ioc_trace_ack",
}

# ------------------------------------------------------------ command numbers (asm-generic)

_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (IOC_MAGIC << 8) | nr


def _ior(nr: int, s: type[_S]) -> int:
    return _ioc(_IOC_READ, nr, ctypes.sizeof(s))


def _iow(nr: int, s: type[_S]) -> int:
    return _ioc(_IOC_WRITE, nr, ctypes.sizeof(s))


def _iowr(nr: int, s: type[_S]) -> int:
    return _ioc(_IOC_READ | _IOC_WRITE, nr, ctypes.sizeof(s))


IOC = {
    "RMT_IOC_VERSION": _ior(0x00, Version),
    "RMT_IOC_PROG_LOAD": _iowr(0x01, ProgLoad),
    "RMT_IOC_PROG_UNLOAD": _iow(0x02, ProgId),
    "RMT_IOC_PROG_LIST": _iowr(0x03, ProgList),
    "RMT_IOC_PROG_INFO": _iowr(0x04, ProgInfo),
    "RMT_IOC_TABLE_UPDATE": _iow(0x10, TableUpdate),
    "RMT_IOC_TABLE_DUMP": _iowr(0x11, TableDump),
    "RMT_IOC_MODEL_LOAD": _iowr(0x20, ModelLoad),
    "RMT_IOC_MODEL_INFO": _iowr(0x21, ModelInfo),
    "RMT_IOC_MAP_READ": _iowr(0x28, MapRead),
    "RMT_IOC_MAP_WRITE": _iow(0x29, MapWrite),
    "RMT_IOC_STATS": _iowr(0x30, StatsArg),
    "RMT_IOC_PROG_RUN": _iowr(0x31, ProgRun),
    "RMT_IOC_TRACE_SELECT": _iow(0x32, ProgId),
    # candidate models
    "RMT_IOC_MODEL_STAGE": _iowr(0x22, ModelLoad),
    "RMT_IOC_MODEL_CTL": _iowr(0x23, ModelCtl),
    "RMT_IOC_MODEL_STATE": _iowr(0x24, ModelState),
    "RMT_IOC_TABLE_BATCH": _iowr(0x12, TableBatch),
    "RMT_IOC_TRACE_PEEK": _iowr(0x33, TracePeek),
    "RMT_IOC_TRACE_ACK": _iow(0x34, TraceAck),
}


def c_buffer(n: int) -> ctypes.Array:
    """A zeroed byte buffer the kernel may write into (keep it alive during the call)."""
    return (c_char * max(1, n))()
