"""`rmtctl model refresh`: one step of the loop that keeps a model fresh.

Each call first looks at the live weights (changed since its last step by a
`model load` or `promote` by hand, or rolled back below: a staged candidate's
window opens again, since its counts mixed two live models), then watches the
last promote it made, then looks at the model's candidate and does one thing:

- watching a promote (`max_trips` set: the loop's own promotes, and live
  weights it finds changed by hand since its last step, from then on) and the
  program's guards turned more than `max_trips` runs to DEFAULT since: roll the
  model back (the weights the promote replaced, proved first; logged) and stop
  watching;
- no candidate staged: drain the program's trace records into the training file
  (appended and fsync'd before the records leave the target), run the trainer
  command on it, and stage the weights it writes (the checks of `model stage`:
  the properties, signature, bounds, cost); the window in which the candidate is
  judged opens then;
- a candidate staged: drain the records (training data for the next round, and
  the evidence: rmt.ctl.accuracy), then
  - judged on fewer than `min_runs` runs: nothing more (wait);
  - by agreement (no `labels`): promote when its agreement with the live
    weights is at least `min_agreement`, else unstage;
  - by accuracy (`labels`): promote when its accuracy on the window's labelled
    runs is at least `min_accuracy` and beats the live weights' accuracy on the
    same runs by at least `margin`, the trace ring dropped no record since the
    window opened, and no disagreement record was left unpaired
    (rmt.ctl.accuracy), else unstage.

Run it between batches of work (`rmtctl model loop` does, every S seconds).
Every step's evidence is in `model history`; `model rollback` undoes a promote.
The loop's own state (the open window, the promote it watches) is one JSON file
beside the training file, FILE.loop.json, written whole.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rmt.contract.engine import CANDIDATE_TRACE_FMT, TraceRecord
from rmt.ctl.accuracy import Labels, Pending, Window, score
from rmt.ctl.sim import TargetError


@dataclass
class LoopTiming:
    """`rmtctl model loop`'s pace (its defaults are the CLI's)."""
    every: float = 60.0              # seconds between rounds
    rounds: int = 0                  # rounds to run; 0: until interrupted


@dataclass
class RefreshPolicy:
    """What one step needs; the defaults here are the CLI's (rmtctl model refresh|loop)."""
    train: str                       # shell command; {traces} and {out} are substituted
    traces: Path                     # the training file (JSON lines, appended)
    min_runs: int = 100
    min_agreement: float = 0.95
    labels: Labels | None = None     # judge by accuracy against these labels
    min_accuracy: float = 0.0
    margin: float = 0.0
    max_trips: int | None = None     # roll back a promote after more guard trips than this

    @property
    def state_file(self) -> Path:
        return self.traces.with_name(self.traces.name + ".loop.json")


def candidate_file(traces: Path) -> Path:
    """Where the trainer writes the candidate's weights (beside the training file)."""
    return traces.with_suffix(".candidate.bin")


def _append_durably(path: Path, lines: list[str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write("".join(lines))
        f.flush()
        os.fsync(f.fileno())


def _load_state(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise TargetError(f"{path}: {e.strerror}; nothing was done") from None
    try:
        j = json.loads(data)            # UnicodeDecodeError is a ValueError too
        if not isinstance(j, dict) or not isinstance(j.get("seen", 0), int) or \
                not isinstance(j.get("owner", ""), str):
            raise ValueError("not an object")
        if "window" in j:
            Window.from_json(j["window"])
        w = j.get("watch")
        if w is not None and not (isinstance(w, dict) and all(
                isinstance(w.get(k), int) for k in ("version", "trips"))):
            raise ValueError("bad watch record")
    except ValueError as e:
        raise TargetError(f"{path}: the loop's state is damaged ({e}); delete it to start "
                          f"afresh (the window of a staged candidate opens again)") from None
    return j


def _save_state(path: Path, j: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps(j))
        os.replace(tmp, path)
    except OSError as e:
        raise TargetError(f"{path}: {e.strerror}; the loop's state was not saved") from None


def _pct(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


class _Drain:
    """Drains the program's records into the training file (durably, before they leave the
    target), scoring the labelled ones: into the open window, and into this step's counts."""

    def __init__(self, target, prog_id: int, policy: RefreshPolicy,
                 to_json: Callable[[TraceRecord], dict[str, Any]], model_name: str):
        self.target, self.prog_id, self.policy = target, prog_id, policy
        self.to_json, self.model_name = to_json, model_name
        self.records = 0
        self.step = Window()

    def __call__(self, window: Window | None) -> None:
        # a disagreement record at the end of one batch pairs with its run in the next
        pending: Pending = {}

        def sink(recs: list[TraceRecord]) -> None:
            lines = [json.dumps(self.to_json(r)) + "\n" for r in recs
                     if r.fmt != CANDIDATE_TRACE_FMT]
            try:
                _append_durably(self.policy.traces, lines)
            except OSError as e:
                raise TargetError(f"{self.policy.traces}: {e.strerror}; the records stay in "
                                  f"the target") from None
            self.records += len(lines)
            if self.policy.labels is not None:
                # a window of its own when none is open: the live weights' accuracy only
                s = score(recs, self.to_json, self.model_name, self.policy.labels,
                          window if window is not None else Window(), pending)
                self.step.add(s)
                self.step.candidate = window.candidate if window is not None else 0
        # the records leave the target (the sim's database, rmt.ko's ring) once they are durable
        self.target.trace(self.prog_id, drain=True, sink=sink)

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"records": self.records}
        if self.policy.labels is not None:
            s = self.step
            out["step"] = {"runs": s.runs, "live_accuracy": _pct(s.live_accuracy()),
                           "candidate_accuracy": _pct(s.cand_accuracy()) if s.candidate
                           else None}
        return out


def _open_window(target, prog_id: int, drain: _Drain, cand: int) -> dict[str, Any]:
    """Open the window that judges candidate `cand`: the records already in the target train
    but never judge it.  The ring's drop count it starts from is read before they are drained,
    so every record the ring drops from then on counts against the candidate."""
    base = target.stats(prog_id).trace_drops
    drain(None)
    return Window(cand, drops_base=base).to_json()


def refresh_step(target, prog_id: int, model: int, policy: RefreshPolicy,
                 to_json: Callable[[TraceRecord], dict[str, Any]],
                 prove: Callable[[bytes | None, str, str], None] = lambda blob, what, op: None,
                 remember: Callable[[bytes | None, str], None] = lambda blob, op: None,
                 guard_trips: Callable[[], int] = lambda: 0, model_name: str = "",
                 log: Callable[[str], None] = lambda msg: None) -> dict[str, Any]:
    """One step (see the module's doc); returns what it did, for the CLI to print.

    prove(blob, what, op) raises to refuse weights (the program's properties) before op
    ("stage", "promote", "rollback"; blob None: the weights the target holds for it);
    remember(blob, op) follows each operation that succeeded; guard_trips() is the program's
    count of runs a guard turned to DEFAULT; log(msg) records a rollback the loop made.
    The loop's state is saved once, when the step has done its work (a step that raises
    saves nothing)."""
    state = _load_state(policy.state_file)
    owner = f"program {prog_id} model {model_name or model}"
    if state.setdefault("owner", owner) != owner:
        raise TargetError(f"{policy.state_file}: the loop's state of {state['owner']}, not of "
                          f"{owner}: give each model its own --traces FILE; nothing was done")
    drain = _Drain(target, prog_id, policy, to_json, model_name)
    out = _step(target, prog_id, model, policy, state, drain, prove, remember, guard_trips,
                model_name, log)
    _save_state(policy.state_file, state)
    return {**out, **drain.report()}


def _step(target, prog_id: int, model: int, policy: RefreshPolicy, state: dict[str, Any],
          drain: _Drain, prove, remember, guard_trips, model_name: str, log) -> dict[str, Any]:
    info = target.model_info(prog_id).get(model, {})

    # 1. the live weights: changed by hand since the last step?  the promote this loop made
    # last (or that change): still live, and its guards quiet enough?
    live = info.get("version", 0)
    by_hand = "seen" in state and live != state["seen"]
    watch = state.get("watch")
    if watch is not None and (policy.max_trips is None or live != watch["version"]):
        del state["watch"]              # not asked to watch, or the model changed since
        watch = None
    if watch is None and policy.max_trips is not None and by_hand and info.get("previous"):
        # live weights this loop did not put there (a `model load` or `promote` by hand): watch
        # them from now on, as its own promotes
        watch = state["watch"] = {"version": live, "trips": guard_trips()}
    state["seen"] = live
    rolled: dict[str, Any] | None = None
    if watch is not None:
        trips = guard_trips() - watch["trips"]
        if trips > policy.max_trips and info.get("previous"):
            prove(None, f"previous version {info['previous']}", "rollback")
            version = target.model_rollback(prog_id, model)
            remember(None, "rollback")
            del state["watch"]
            state["seen"] = version
            log(f"model refresh: {model_name}: {trips} guard trips since the promote of version "
                f"{watch['version']} (more than {policy.max_trips}): rolled back to version "
                f"{version}")
            rolled = {"action": "rollback", "version": version, "from": watch["version"],
                      "trips": trips, "max_trips": policy.max_trips}
    cand = info.get("candidate", 0)
    if cand and (by_hand or rolled is not None):
        # the candidate's window counted runs of other live weights: judge it afresh
        state["window"] = _open_window(target, prog_id, drain, cand)
    if rolled is not None:
        return rolled

    # 2. a staged candidate: gather evidence, judge it when there is enough
    if cand:
        w = state.get("window")
        window = Window.from_json(w) if w is not None else None
        if window is None or window.candidate != cand or \
                target.stats(prog_id).trace_drops < window.drops_base:
            # staged by someone else, or in another window, or the window's counters are
            # another program's (trace_drops went down: the program was loaded again under
            # this id): the records in the target may predate it, so they train but do not
            # judge; the window opens after them
            state["window"] = _open_window(target, prog_id, drain, cand)
            return {"action": "wait", "candidate": cand, "agree": info.get("agree", 0),
                    "disagree": info.get("disagree", 0), "min_runs": policy.min_runs}
        drain(window)
        state["window"] = window.to_json()
        after = target.model_info(prog_id).get(model, {})
        a, d = after.get("agree", 0), after.get("disagree", 0)
        out: dict[str, Any] = {"candidate": cand, "agree": a, "disagree": d}
        if policy.labels is not None:
            # records the ring dropped since the window opened (any record: a run's own as
            # much as a disagreement).  Read after the drain, so a drop is never missed; a run
            # made meanwhile leaves its records in the ring for the next step, and is no loss
            lost = max(0, target.stats(prog_id).trace_drops - window.drops_base)
            out.update(runs=window.runs, live_accuracy=_pct(window.live_accuracy()),
                       candidate_accuracy=_pct(window.cand_accuracy()), lost=lost,
                       unpaired=window.unpaired)
            n = window.runs
        else:
            n = a + d
        if n < policy.min_runs:
            return {"action": "wait", **out, "min_runs": policy.min_runs}
        if policy.labels is not None:
            la, ca = window.live_accuracy(), window.cand_accuracy()
            # an unpaired disagreement leaves its run credited with the live prediction (e.g.
            # --score is not the traced output K): the candidate's accuracy is not known
            ok = out["lost"] == 0 and out["unpaired"] == 0 and ca >= policy.min_accuracy \
                and ca - la >= policy.margin
            out.update(min_accuracy=policy.min_accuracy, margin=policy.margin)
        else:
            ok = a / n >= policy.min_agreement
            out.update(min_agreement=policy.min_agreement)
        state.pop("window", None)
        if ok:
            prove(None, f"candidate version {cand}", "promote")
            version = target.model_promote(prog_id, model)
            remember(None, "promote")
            state["seen"] = version
            if policy.max_trips is not None:
                state["watch"] = {"version": version, "trips": guard_trips()}
            out.pop("min_agreement", None)
            return {"action": "promote", "version": version, **out}
        target.model_unstage(prog_id, model)
        remember(None, "unstage")
        return {"action": "unstage", **out}

    # 3. no candidate: train on everything so far, stage, open the window
    drain(None)
    out_file = candidate_file(policy.traces)
    try:
        out_file.unlink(missing_ok=True)    # never stage an earlier run's weights
    except OSError as e:
        raise TargetError(f"{out_file}: {e.strerror}; nothing was staged") from None
    # only the two names are substituted: the command's other braces are the shell's
    cmd = policy.train.replace("{traces}", shlex.quote(str(policy.traces))).replace(
        "{out}", shlex.quote(str(out_file)))
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise TargetError(f"the trainer failed (exit {r.returncode}: {last}); nothing was "
                          f"staged, {drain.records} new records are in {policy.traces}")
    try:
        blob = out_file.read_bytes()
    except OSError as e:
        raise TargetError(f"the trainer wrote no weights to {out_file} ({e.strerror}); "
                          f"nothing was staged") from None
    prove(blob, str(out_file), "stage")
    version = target.model_stage(prog_id, model, blob)
    remember(blob, "stage")
    # runs before the stage (made while the trainer ran) never judge the candidate
    state["window"] = _open_window(target, prog_id, drain, version)
    return {"action": "stage", "candidate": version}
