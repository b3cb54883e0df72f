"""Host-side inputs the rmt.ko guest tests feed the module: both examples compiled, and
weight blobs that fit their model signatures.

test_kmod_abi.py and test_kmod_hooks.py boot different guests but load the same programs
and the same shape of predictor weights; one definition keeps the blobs they write in step
with the examples' signatures.  Each test passes its own seeded generator (so its runs
repeat) and adds the tree weights it needs.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rmt.contract.weights import Tree

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("forced_migration", "swap_prefetch")
N_FEATURES = 17           # forced_migration's predictor and tree_predictor inputs


def write_examples_and_predictors(files: Path, rng: random.Random) -> None:
    """files/<example>.rmtb for both examples, and pred.bin, pred2.bin: two 17-12-2 MLPs
    (ReLU hidden layer, shift 8) with weights in [-2048, 2048] and biases in
    [-4096, 4096] drawn from `rng`, in that order."""
    from rmt.compiler import compile_source
    from rmt.contract import objfile
    from rmt.contract import weights as W

    for name in EXAMPLES:
        src = ROOT / "examples" / f"{name}.rmt"
        prog = compile_source(src.read_text(), str(src))
        (files / f"{name}.rmtb").write_bytes(objfile.write(prog))

    def dense(n_out: int, n_in: int, relu: bool) -> W.DenseLayer:
        return W.DenseLayer([[rng.randint(-2048, 2048) for _ in range(n_in)]
                             for _ in range(n_out)],
                            [rng.randint(-4096, 4096) for _ in range(n_out)], 8, relu)

    for name in ("pred.bin", "pred2.bin"):
        (files / name).write_bytes(W.write_weights(W.mlp([dense(12, N_FEATURES, True),
                                                          dense(2, 12, False)])))


def tree_weights(tree: Tree, n_in: int) -> bytes:
    """The weights blob of a single-tree model (kind TREE) over `n_in` features."""
    from rmt.contract.objformat import ModelKind
    from rmt.contract import weights as W
    return W.write_weights(W.forest([tree], n_in, kind=ModelKind.TREE))


def _pythonpath() -> str:
    """pytest's `pythonpath` (pyproject.toml), absolute: where the helpers import from."""
    import tomllib
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return ":".join(str(ROOT / d) for d in conf["tool"]["pytest"]["ini_options"]["pythonpath"])


# Prefix of a guest command that runs a helper script: the guest's environment is empty
# (tools/qemu/init.sh), so the helpers find their sibling modules as the host tests do.
GUEST_ENV = f"PYTHONPATH={_pythonpath()}"


def with_module(ko: Path, command: str, params: str = "") -> str:
    """A guest script: rmt.ko loaded (exit 3 if it will not load), `command` run, the module
    unloaded (exit 4 if it will not unload); the script exits with the command's status."""
    return f"""
        insmod {ko} {params} || exit 3
        {command}
        rc=$?
        rmmod rmt || exit 4
        exit $rc
        """


def run_helper(qemu_env, rmt_ko: Path, helper: Path, files: Path, result: str, *,
               timeout: float, **guest_kw) -> dict:
    """Boot a guest that loads rmt.ko, runs `helper FILES $RMT_OUT` and unloads the module;
    return the helper's `result` JSON with the guest's run as "_r" ({"error": ...} when the
    helper wrote nothing).  `files` lies in the share the guest writes to (its parent)."""
    import json
    import sys

    from rmt.qemu import harness
    share = files.parent
    r = harness.run_in_guest(
        with_module(rmt_ko, f'{GUEST_ENV} {sys.executable} {helper} {files} "$RMT_OUT"'),
        timeout=timeout, out_dir=share, cwd=ROOT, harness_env=qemu_env, **guest_kw)
    f = share / result
    res = json.loads(f.read_text()) if f.exists() else {"error": "no output"}
    res["_r"] = r
    return res


def helper_output(guest: dict) -> dict:
    """The helper's results, or the test fails with the guest's console tail."""
    import pytest
    if "error" in guest:
        pytest.fail(f"guest failed: {guest['error']}\n{guest['_r'].output[-3000:]}")
    return guest
