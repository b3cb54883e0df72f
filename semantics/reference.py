"""ReferenceEngine: the executable semantics, the oracle every other engine is compared to.

Loads an object (bytes are read with rmt.contract.objfile.read; a Program is
taken as is), validates it (semantics/validate.py), and implements
rmt.contract.engine.Engine with the plain-Python tables, maps, models and
interpreter of this package.  Every failing call raises EngineError and
changes nothing.
"""
from __future__ import annotations

import errno

from rmt.contract import objfile
from rmt.contract.isa import Abort
from rmt.contract.objfile import ObjError, Program
from rmt.contract.hooks import DEFAULT_DECISION
from rmt.contract.engine import (MODEL_HISTORY, Entry, EngineError, EntryState, Match, ModelEvent,
                                 ModelState, RunResult, Stats, TraceRecord)
from rmt.semantics.interp import (DEFAULT_SEED, Candidate, Runtime, TraceRing, XorShift64,
                                  execute)
from rmt.semantics.maps import MapState
from rmt.semantics.tables import TableState
from rmt.semantics.validate import validate
from rmt.contract.weights import read_weights


def load_program(obj: bytes | Program) -> Program:
    """Parse (if bytes) and validate; EngineError(EINVAL) names the part at fault."""
    if isinstance(obj, Program):
        prog = obj
    else:
        try:
            prog = objfile.read(bytes(obj))
        except ObjError as e:
            raise EngineError(errno.EINVAL, f"object: {e}") from None
    validate(prog)
    return prog


class ReferenceEngine:
    """One loaded program and its state, run by the Python interpreter."""

    def __init__(self, obj: bytes | Program, *, trace_capacity: int = 4096,
                 seed: int = DEFAULT_SEED):
        self.prog = load_program(obj)
        self.rt = Runtime(
            tables=[TableState(t) for t in self.prog.tables],
            maps=[MapState(m) for m in self.prog.maps],
            models=[None] * len(self.prog.models),
            candidates=[None] * len(self.prog.models),
            trace=TraceRing(trace_capacity),
            rng=XorShift64(seed))
        self.versions = [0] * len(self.prog.models)
        n = len(self.prog.models)
        self.top = [0] * n                      # highest version each model has held
        self.prev: list = [None] * n            # (weights, version) a rollback restores
        self.history: list[list[ModelEvent]] = [[] for _ in range(n)]

    # ------------------------------------------------------------ lookups

    def _get(self, seq: list, idx: int, what: str):
        if not 0 <= idx < len(seq):
            raise EngineError(errno.ENOENT, f"no {what} {idx} (the program has {len(seq)})")
        return seq[idx]

    # ------------------------------------------------------------ tables

    def table_insert(self, table: int, entry: Entry) -> None:
        self._get(self.rt.tables, table, "table").insert(entry)

    def table_modify(self, table: int, entry: Entry) -> None:
        self._get(self.rt.tables, table, "table").modify(entry)

    def table_delete(self, table: int, match: tuple[Match, ...], priority: int = 0) -> None:
        self._get(self.rt.tables, table, "table").delete(match, priority)

    def table_entries(self, table: int) -> list[EntryState]:
        return self._get(self.rt.tables, table, "table").snapshot()

    def table_misses(self, table: int) -> int:
        return self._get(self.rt.tables, table, "table").misses

    # ------------------------------------------------------------ models

    def _next_version(self, model: int, own: int) -> int:
        v = own or self.top[model] + 1
        self.top[model] = max(self.top[model], v)
        return v

    def _event(self, model: int, version: int, op: str) -> None:
        cand = self.rt.candidates[model]
        ev = ModelEvent(version, op)
        if op in ("promote", "unstage"):
            ev.agree, ev.disagree = cand.agree, cand.disagree
        self.history[model] = (self.history[model] + [ev])[-MODEL_HISTORY:]

    def model_load(self, model: int, blob: bytes) -> int:
        sig = self._get(self.prog.models, model, "model")
        w = read_weights(blob, sig)
        version = self._next_version(model, w.version)
        old = self.rt.models[model]
        self.prev[model] = (old, self.versions[model]) if old is not None else None
        self.rt.models[model] = w          # one reference swap: atomic
        self.versions[model] = version
        self._event(model, version, "load")
        return version

    def model_stage(self, model: int, blob: bytes) -> int:
        sig = self._get(self.prog.models, model, "model")
        w = read_weights(blob, sig)
        version = self._next_version(model, w.version)
        self.rt.candidates[model] = Candidate(w, version)
        self._event(model, version, "stage")
        return version

    def model_promote(self, model: int) -> int:
        self._get(self.prog.models, model, "model")
        cand = self.rt.candidates[model]
        if cand is None or cand.weights is None:
            raise EngineError(errno.ENOENT, f"model {model}: no candidate is staged")
        old = self.rt.models[model]
        self.prev[model] = (old, self.versions[model]) if old is not None else None
        self.rt.models[model], self.versions[model] = cand.weights, cand.version
        cand.weights, cand.version = None, 0      # the evidence stays for model_state
        self._event(model, self.versions[model], "promote")
        return self.versions[model]

    def model_rollback(self, model: int) -> int:
        self._get(self.prog.models, model, "model")
        if self.prev[model] is None:
            raise EngineError(errno.ENOENT, f"model {model}: no previous weights to roll "
                                            f"back to")
        self.rt.models[model], self.versions[model] = self.prev[model]
        self.prev[model] = None
        self._event(model, self.versions[model], "rollback")
        return self.versions[model]

    def model_unstage(self, model: int) -> int:
        self._get(self.prog.models, model, "model")
        cand = self.rt.candidates[model]
        if cand is None or cand.weights is None:
            raise EngineError(errno.ENOENT, f"model {model}: no candidate is staged")
        version = cand.version
        cand.weights, cand.version = None, 0
        self._event(model, version, "unstage")
        return version

    def model_state(self, model: int) -> ModelState:
        self._get(self.prog.models, model, "model")
        cand = self.rt.candidates[model]
        prev = self.prev[model]
        return ModelState(self.versions[model], cand.version if cand else 0,
                          prev[1] if prev else 0, cand.agree if cand else 0,
                          cand.disagree if cand else 0, list(self.history[model]))

    # ------------------------------------------------------------ maps

    def map_read(self, map_id: int) -> dict[int, int]:
        return self._get(self.rt.maps, map_id, "map").read()

    def map_write(self, map_id: int, key: int, value: int) -> None:
        self._get(self.rt.maps, map_id, "map").write(key, value)

    # ------------------------------------------------------------ runs

    def run(self, ctx: bytes, *, cpu: int = 0, now: int = 0) -> RunResult:
        size = self.prog.hook.ctx_size
        if len(ctx) != size:
            raise EngineError(errno.EINVAL, f"context is {len(ctx)} bytes, hook "
                                            f"{self.prog.hook.name} takes {size}")
        buf = bytearray(ctx)
        out = execute(self.prog, self.rt, buf, cpu, now)
        st = self.rt.stats
        st.runs += 1
        decision = out.decision
        if out.abort != Abort.NONE:
            st.aborts[int(out.abort)] = st.aborts.get(int(out.abort), 0) + 1
        elif not self.prog.hook.decision.allowed(decision):
            st.bad_decisions += 1
            decision = DEFAULT_DECISION
        st.decisions[decision] = st.decisions.get(decision, 0) + 1
        return RunResult(decision, bytes(buf), int(out.abort), out.abort_pc)

    def shadow_account(self, program_decision: int, kernel_decision: int) -> None:
        st = self.rt.stats
        if program_decision == DEFAULT_DECISION:
            return          # the program did not decide: agreement is over runs it decided
        if program_decision == kernel_decision:
            st.shadow_agree += 1
        else:
            st.shadow_disagree += 1

    def trace_drain(self) -> list[TraceRecord]:
        return self.rt.trace.drain()

    def stats(self) -> Stats:
        st = self.rt.stats
        return Stats(st.runs, dict(st.aborts), dict(st.decisions), st.bad_decisions,
                     st.shadow_agree, st.shadow_disagree, st.trace_drops, st.model_overflows,
                     st.map_drops)
