"""`rmtctl model refresh`: one step of the loop that keeps a model fresh.

Each call looks at the model's candidate and does one thing:

- no candidate staged: drain the program's trace records into the training file
  (appended and fsync'd before the records leave the target), run the trainer
  command on it, and stage the weights it writes (the checks of `model stage`:
  signature, bounds, cost);
- a candidate evaluated on fewer than `min_runs` runs: nothing (wait);
- a candidate evaluated on at least `min_runs` runs: promote it when its agreement
  with the live weights is at least `min_agreement`, else unstage it.

Run it between batches of work (a cron job, a loop in a shell, a simulator's
epochs).  Agreement is the conservative canary rule: a candidate that would
change many decisions is held back for a person to look at (`model history`
keeps every step's evidence); `model rollback` undoes a promote.
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
from rmt.ctl.sim import TargetError


@dataclass
class RefreshPolicy:
    train: str                       # shell command; {traces} and {out} are substituted
    traces: Path                     # the training file (JSON lines, appended)
    min_runs: int = 100
    min_agreement: float = 0.95


def _append_durably(path: Path, lines: list[str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write("".join(lines))
        f.flush()
        os.fsync(f.fileno())


def refresh_step(target, prog_id: int, model: int, policy: RefreshPolicy,
                 to_json: Callable[[TraceRecord], dict[str, Any]],
                 prove: Callable[[bytes | None, str], None] = lambda blob, what: None,
                 remember: Callable[[bytes | None, str], None] = lambda blob, op: None
                 ) -> dict[str, Any]:
    """One step (see the module's doc); returns what it did, for the CLI to print.

    prove(blob, what) raises to refuse weights (the program's properties, before a stage, and
    before a promote with blob None: the staged candidate); remember(blob, op) follows each
    operation that succeeded."""
    info = target.model_info(prog_id).get(model, {})
    cand = info.get("candidate", 0)
    if cand:
        a, d = info.get("agree", 0), info.get("disagree", 0)
        n = a + d
        out = {"candidate": cand, "agree": a, "disagree": d}
        if n < policy.min_runs:
            return {"action": "wait", **out, "min_runs": policy.min_runs}
        if a / n >= policy.min_agreement:
            prove(None, f"candidate version {cand}")
            version = target.model_promote(prog_id, model)
            remember(None, "promote")
            return {"action": "promote", "version": version, **out}
        target.model_unstage(prog_id, model)
        remember(None, "unstage")
        return {"action": "unstage", **out, "min_agreement": policy.min_agreement}

    def sink(recs: list[TraceRecord]) -> None:
        lines = [json.dumps(to_json(r)) + "\n" for r in recs if r.fmt != CANDIDATE_TRACE_FMT]
        try:
            _append_durably(policy.traces, lines)
        except OSError as e:
            raise TargetError(f"{policy.traces}: {e.strerror}; the records stay in the "
                              f"target") from None
        sink.n = len(lines)
    sink.n = 0
    # the records leave the target (the sim's database, rmt.ko's ring) once they are durable
    target.trace(prog_id, drain=True, sink=sink)
    out_file = policy.traces.with_suffix(".candidate.bin")
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
                          f"staged, {sink.n} new records are in {policy.traces}")
    try:
        blob = out_file.read_bytes()
    except OSError as e:
        raise TargetError(f"the trainer wrote no weights to {out_file} ({e.strerror}); "
                          f"nothing was staged") from None
    prove(blob, str(out_file))
    version = target.model_stage(prog_id, model, blob)
    remember(blob, "stage")
    return {"action": "stage", "candidate": version, "records": sink.n}
