"""Declared properties on the host: kept at insert, proved before every model load.

rmt.ko cannot run Z3, so the proof runs here, in rmtctl, before the weights
reach the target (the sim's engine or the /dev/rmt ioctl); refused weights
never leave the host, and the weights already loaded keep running.

The store is a directory of files named by program, KEY = p<id>-<sha> (the
program's id and the 16 hex digits `rmtctl list` shows as sha256): `KEY.rmtp`,
the program's properties (contract/propfile.py), copied there by `rmtctl
insert` from the .rmtp beside the object; `KEY.<model>.rmtw`, the weights live
for each model, which the proofs for the other models use;
`KEY.<model>.candidate.rmtw` and `KEY.<model>.previous.rmtw`, what a promote
or a rollback would make live (proved before it does).  Insert starts a
program's files afresh and remove drops them.  It is $RMT_PROPS_DIR, else
`props/` in the sim's state directory (sim target), else
$XDG_STATE_HOME/rmt/props (~/.local/state/rmt/props).  Files are written
whole (temporary file, then rename), so a crash leaves the old one or the new one.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from rmt.contract import propfile
from rmt.contract.objfile import Program
from rmt.contract.propfile import PropsError


def store_dir(target) -> Path:
    env = os.environ.get("RMT_PROPS_DIR")
    if env:
        return Path(env)
    sim_dir = getattr(target, "dir", None)
    if getattr(target, "name", "") == "sim" and sim_dir is not None:
        return Path(sim_dir) / "props"
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "state")
    return Path(base) / "rmt" / "props"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def key(prog_id: int, sha16: str) -> str:
    """The store's name for one inserted program: its id and its object's digest (two
    programs inserted from one object keep their own properties and weights; an id the
    kernel reuses for another object gets a fresh name)."""
    return f"p{prog_id}-{sha16}"


def read(obj: bytes, props_path: Path) -> tuple[str, int]:
    """The properties at props_path, checked and bound to obj: (text, how many)."""
    try:
        text = props_path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise PropsError(f"{props_path}: cannot read properties: {e}") from None
    pf = propfile.loads(text, str(props_path))
    propfile.check_bound(pf, obj, str(props_path))
    from rmt.contract import objfile
    propfile.check_terms(pf, objfile.read(obj), str(props_path))
    return text, len(pf.properties)


def forget(target, k: str) -> None:
    """Drop everything kept for program k (at remove, and before an insert reuses the name)."""
    for f in store_dir(target).glob(f"{k}.*"):
        f.unlink(missing_ok=True)


def keep(target, k: str, text: str | None) -> None:
    """Start program k's store afresh, with its properties (text) if it has any."""
    forget(target, k)
    if text is not None:
        _write(store_dir(target) / f"{k}.rmtp", text.encode())


def stored(target, k: str) -> list[dict] | None:
    sha16 = k.rpartition("-")[2]
    path = store_dir(target) / f"{k}.rmtp"
    if not path.exists():
        return None
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise PropsError(f"{path}: cannot read properties: {e}") from None
    pf = propfile.loads(text, str(path))
    if pf.object_sha256[:16] != sha16:
        raise PropsError(f"{path}: belongs to another object ({pf.object_sha256[:16]})")
    return pf.properties


def _slot(target, k: str, model: str, slot: str) -> Path:
    """The live weights (slot ""), the staged candidate or the weights a rollback restores."""
    return store_dir(target) / f"{k}.{model}{'.' + slot if slot else ''}.rmtw"


def remember(target, k: str, model: str, blob: bytes | None, op: str) -> None:
    """Follow a model operation that succeeded on the target, so that the live weights here
    stay those the proofs for the other models use, and a promote or rollback can prove the
    weights it is about to make live: load and promote keep the replaced live weights as
    the rollback's; stage keeps the candidate; rollback and unstage drop what they used."""
    live, cand, prev = (_slot(target, k, model, s) for s in ("", "candidate", "previous"))

    def move(src: Path, dst: Path) -> None:
        if src.exists():
            os.replace(src, dst)
        else:
            dst.unlink(missing_ok=True)

    if op == "load":
        move(live, prev)
        _write(live, blob)
    elif op == "stage":
        _write(cand, blob)
    elif op == "promote":
        move(live, prev)
        move(cand, live)
    elif op == "rollback":
        move(prev, live)
    elif op == "unstage":
        cand.unlink(missing_ok=True)
    else:
        raise ValueError(op)


def known(target, k: str, model: str, op: str) -> bytes | None:
    """The weights a promote (the candidate) or a rollback (the previous) would make live, if
    they came through rmtctl here; else None."""
    path = _slot(target, k, model, "candidate" if op == "promote" else "previous")
    try:
        return path.read_bytes()
    except OSError:
        return None


def check_weights(target, k: str, prog: Program, model: int, blob: bytes,
                  timeout_s: float) -> tuple[bool, list[str]]:
    """Prove the stored properties with `blob` for `model` (and the weights last loaded for
    the others); (every property proved or deferred, report lines)."""
    props = stored(target, k)
    if not props:
        return True, []
    from rmt.contract.weights import WeightsError, read_weights
    from rmt.verifier.modelcheck import check_models
    from rmt.verifier.properties import describe, prove_properties
    try:
        weights = {model: read_weights(blob, prog.models[model])}
    except WeightsError:
        return True, []       # malformed: the target refuses them with its own error
    for i, m in enumerate(prog.models):
        p = _slot(target, k, m.name, "")
        if i != model and p.exists():
            try:
                weights[i] = read_weights(p.read_bytes(), m)
            except Exception:      # a stale or damaged copy: that model stays free
                pass
    _, bounds = check_models(prog, prog.hook.budget, weights)
    t0 = time.perf_counter()
    results = prove_properties(prog, props, weights, bounds, max(1, int(timeout_s * 1000)),
                               frozenset({model}))
    lines = []
    for r in results:
        lines += describe(r, prog)
    lines.append(f"{prog.models[model].name}: {sum(r.status == 'proved' for r in results)} of "
                 f"{len(results)} properties proved in {time.perf_counter() - t0:.2f} s")
    return all(r.ok for r in results), lines


def assume(target, k: str, model: str, blob: bytes) -> None:
    """Keep the weights `rmtctl insert --weights` verified program k with: the verifier
    assumed their output bounds (and proved their accumulators), so every later weights of
    that model must keep within them (assumption_broken)."""
    _write(_slot(target, k, model, "assumed"), blob)


def assumption_broken(target, k: str, prog: Program, model: int,
                      blob: bytes | None) -> str | None:
    """Why `blob` for `model` would break what the verifier assumed at insert (None: it
    keeps within it, or the insert assumed nothing of this model): outputs outside the
    bounds of the weights it was verified with, or a model obligation (accumulator
    overflow) those weights passed and these fail.  The proof of an accepted program's
    safety (an index taken from a model output, a decision) rests on those bounds."""
    m = prog.models[model]
    path = _slot(target, k, m.name, "assumed")
    if not path.exists():
        return None
    if blob is None:
        return ("the program was verified with other weights of this model (rmtctl insert "
                "--weights) and these did not come through rmtctl on this host")
    from rmt.contract.weights import WeightsError, read_weights
    from rmt.verifier.modelcheck import check_models
    try:
        new, old = read_weights(blob, m), read_weights(path.read_bytes(), m)
    except (WeightsError, OSError):
        return None          # malformed: the target refuses them with its own error
    nres, nb = check_models(prog, prog.hook.budget, {model: new})
    ores, ob = check_models(prog, prog.hook.budget, {model: old})
    before = {r.obligation for r in ores if not r.ok}
    worse = [r for r in nres if not r.ok and r.obligation not in before]
    if worse:
        return f"{worse[0].obligation.describe()} with these weights"
    lo, hi = ob.get(model, (None, None))
    if lo is not None and (model not in nb or nb[model][0] < lo or nb[model][1] > hi):
        got = nb.get(model)
        return (f"their outputs {'[%d, %d]' % got if got else 'are unbounded and'} "
                f"leave [{lo}, {hi}], the bounds of the weights the program was verified "
                f"with at insert (rmtctl insert --weights)")
    return None


def log(target, message: str) -> None:
    """Append to props.log in the store: loads that skipped the proof stay on record."""
    path = store_dir(target) / "props.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n")
