"""Build and run the C unit tests of the tables and the model engine (tests/c/).

The C sources are the ones rmt.ko is built from, so they are tested in C:
each tests/c/test_*.c is compiled with the VM sources under AddressSanitizer
and UndefinedBehaviorSanitizer (any report is fatal) and must exit 0.  A
second test builds the tables (vm_kernel/core/rmt_table*.c) and the model
engine (rmt_model*.c) as a stub kernel module against Debian's 6.1 headers, so
they provably compile in the kernel too; it is skipped only when the headers
are not installed.
"""
from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VM = ROOT / "vm_kernel" / "core"
CDIR = ROOT / "tests" / "c"
SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
WARN = ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror"]

# The tables and the model engine: rmt_table.c / rmt_model.c and their files per kind.
TABLE = sorted(p.name for p in VM.glob("rmt_table*.[ch]"))
MODEL = sorted(p.name for p in VM.glob("rmt_model*.[ch]") if not p.name.startswith("rmt_modelif"))
TABLE_SRCS = [n for n in TABLE if n.endswith(".c")]
MODEL_SRCS = [n for n in MODEL if n.endswith(".c")]

# test program -> the VM sources it needs (rmt_compat.c: userspace RCU)
TESTS = {
    "test_tables": TABLE_SRCS,
    "test_models": MODEL_SRCS,
    "test_model_isa": MODEL_SRCS,
    "test_concurrency": TABLE_SRCS + MODEL_SRCS,
}


def _gcc() -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    return gcc


@pytest.mark.parametrize("name", sorted(TESTS))
def test_c_unit(name: str, tmp_path: Path) -> None:
    exe = tmp_path / name
    srcs = ([CDIR / f"{name}.c"] + [VM / s for s in TESTS[name]]
            + [VM / "rmt_alloc.c", VM / "rmt_compat.c"])
    cmd = [_gcc(), *SANITIZE, *WARN, f"-I{VM}", f"-I{CDIR}", *map(str, srcs), "-o", str(exe),
           "-lpthread"]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, f"compile failed:\n{build.stderr}"
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"{name} failed:\n{run.stdout}\n{run.stderr}"
    assert f"{name}: ok" in run.stdout, run.stdout


def _headers() -> Path | None:
    found = sorted(glob.glob("/usr/src/linux-headers-6.1.*-amd64"))
    return Path(found[-1]) if found else None


_STUB = """\
// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include "rmt_table.h"
#include "rmt_model.h"

/* Reference the API so the linker keeps it and modpost checks its symbols. */
static int __init stub_init(void)
{
	struct rmt_model_slot slot;
	struct rmt_table *t = NULL;
	struct rmt_table_schema s = { .max_entries = 1, .nkeys = 1, .nactions = 1,
				      .keys = { { RMT_MATCH_EXACT, 8 } } };
	u64 ov = 0, key = 0;
	const u8 *params;
	s32 in = 0, out;
	u16 action;

	if (rmt_table_create(&s, &t, NULL, 0))
		return -ENOMEM;
	rcu_read_lock();
	rmt_table_lookup(t, &key, &action, &params);
	rcu_read_unlock();
	rmt_table_destroy(t);
	rmt_model_slot_init(&slot);
	if (rmt_model_infer(&slot, &in, &out, &ov) != -ENOENT)
		return -EINVAL;
	rmt_model_slot_destroy(&slot);
	return 0;
}

static void __exit stub_exit(void)
{
}

module_init(stub_init);
module_exit(stub_exit);
MODULE_LICENSE("GPL");
"""


def _per_object_flags() -> str:
    """vm_kernel/Kbuild's per-object flags of the model files (the AVX2 object's vector
    flags), for objects now in one folder: the same flags as rmt.ko, from one place."""
    kbuild = (ROOT / "vm_kernel" / "Kbuild").read_text().replace("\\\n", " ")
    model_objs = {"core/" + n[:-2] + ".o" for n in MODEL_SRCS}
    lines = [ln for ln in kbuild.splitlines()
             if ln.startswith("CFLAGS_") and any(o in ln.split("+=")[0] for o in model_objs)]
    return "".join(ln.replace("core/", "", 1) + "\n" for ln in lines)


def test_kernel_compile(tmp_path: Path) -> None:
    """The tables and the model engine build as (part of) a module against the 6.1 headers."""
    headers = _headers()
    if headers is None:
        pytest.skip("no /usr/src/linux-headers-6.1.*-amd64")
    for f in (*TABLE, *MODEL, "rmt_compat.h", "rmt_format.h", "rmt_alloc.c", "rmt_alloc.h"):
        shutil.copy(VM / f, tmp_path / f)
    (tmp_path / "stub_main.c").write_text(_STUB)
    objs = " ".join(n[:-2] + ".o" for n in TABLE_SRCS + MODEL_SRCS)
    (tmp_path / "Kbuild").write_text(
        "obj-m := rmtstub.o\n"
        f"rmtstub-y := stub_main.o {objs} rmt_alloc.o\n"
        "ccflags-y := -I$(src) -Werror\n" + _per_object_flags())
    run = subprocess.run(["make", "-C", str(headers), f"M={tmp_path}", "modules"],
                         capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert (tmp_path / "rmtstub.ko").exists(), out
    warnings = [ln for ln in out.splitlines() if "warning:" in ln.lower()]
    assert not warnings, out
    assert "undefined" not in out, out     # modpost: a symbol the kernel does not export


# ---------------------------------------------------------------- cross-check with semantics/

def _random_model(rnd, case: int):
    """A random signature and weights: MLPs with conv1d and dense layers, trees, forests."""
    from rmt.contract.objfile import Layer, Model
    from rmt.contract.objformat import Activation, LayerKind, ModelKind
    from rmt.contract import weights as W

    bits = rnd.choice([8, 16, 32])
    top = (1 << (bits - 1)) - 1
    def wv() -> int:
        return rnd.choice([rnd.randint(-top - 1, top), rnd.randint(-3, 3)])

    bmax = (1 << (bits + 8)) if bits < 32 else (1 << 31) - 1

    def bv() -> int:                  # mostly within the loaders' bias bound, sometimes over
        return rnd.randint(-bmax, bmax) if rnd.random() < 0.95 else rnd.randint(-2**31, 2**31 - 1)
    if case % 3 == 0:                                   # MLP, maybe with a conv1d first
        layers, sig_layers, n_in = [], [], rnd.randint(1, 12)
        width = n_in
        if rnd.random() < 0.5:
            cin = rnd.randint(1, 3)
            t = rnd.randint(1, 4)
            k = rnd.randint(1, t)
            cout = rnd.randint(1, 3)
            n_in = width = cin * t
            ws = [[[wv() for _ in range(k)] for _ in range(cin)] for _ in range(cout)]
            ly = W.Conv1dLayer(ws, [bv() for _ in range(cout)], n_in,
                               rnd.randint(0, 31), rnd.random() < 0.5)
            layers.append(ly)
            sig_layers.append(Layer(LayerKind.CONV1D, Activation(int(ly.relu)), n_in, ly.n_out,
                                    cin, cout, k))
            width = ly.n_out
        for _ in range(rnd.randint(1, 3)):
            n_out = rnd.randint(1, 8)
            ly = W.DenseLayer([[wv() for _ in range(width)] for _ in range(n_out)],
                              [bv() for _ in range(n_out)],
                              rnd.choice([0, 1, 5, 31]), rnd.random() < 0.5)
            layers.append(ly)
            sig_layers.append(Layer(LayerKind.DENSE, Activation(int(ly.relu)), width, n_out))
            width = n_out
        # half the models declare a narrow input range: hidden outputs are clamped to it
        lo, hi = (-(1 << 31), (1 << 31) - 1) if case % 2 else (-rnd.randint(0, 99), rnd.randint(0, 99))
        model = Model("m", ModelKind.MLP, n_in, width, bits, sig_layers, in_lo=lo, in_hi=hi)
        return model, W.mlp(layers, bits)
    n_in, n_out, depth = rnd.randint(1, 6), rnd.randint(1, 3), rnd.randint(1, 6)
    ntrees = 1 if case % 3 == 1 else rnd.randint(1, 5)
    trees = []
    for _ in range(ntrees):
        nodes: list = []
        leaves: list = []

        def grow(d: int) -> int:
            i = len(nodes)
            nodes.append(None)
            if d == depth or rnd.random() < 0.3:
                nodes[i] = W.Node(-1, 0, 0, 0, len(leaves))
                leaves.append([rnd.randint(-2**31, 2**31 - 1) for _ in range(n_out)])
            else:
                feat, thr = rnd.randrange(n_in), rnd.randint(-50, 50)
                left = grow(d + 1)
                right = grow(d + 1)
                nodes[i] = W.Node(feat, thr, left, right, 0)
            return i
        grow(0)
        trees.append(W.Tree(nodes, leaves))
    kind = ModelKind.TREE if ntrees == 1 and case % 3 == 1 else ModelKind.FOREST
    shift = 0 if kind == ModelKind.TREE else rnd.choice([0, 1, 3, 63])
    model = Model("m", kind, n_in, n_out, bits, trees=ntrees if kind == ModelKind.FOREST else 1,
                  depth=depth)
    return model, W.forest(trees, n_in, shift, kind=kind, weight_bits=bits)


def _driver_input(model, blob: bytes, inputs: list[list[int]]) -> str:
    head = [int(model.kind), model.weight_bits, len(model.layers), model.trees, model.depth,
            model.n_in, model.n_out, model.max_abs_weight, model.in_lo, model.in_hi]
    lines = [" ".join(map(str, head))]
    for ly in model.layers:
        lines.append(" ".join(map(str, [int(ly.kind), int(ly.act), ly.in_ch, ly.out_ch,
                                        ly.kernel, ly.n_in, ly.n_out])))
    lines.append(f"{len(blob)} {blob.hex()}")
    lines.append(str(len(inputs)))
    lines += [" ".join(map(str, x)) for x in inputs]
    return "\n".join(lines) + "\n"


def test_models_match_python_reference(tmp_path: Path) -> None:
    """The C engine and semantics/models.py agree on random models and corrupted blobs:
    the same accept/reject verdict, and bit-identical outputs and overflow counts."""
    import random

    from rmt.semantics import models as M
    from rmt.contract import weights as W

    exe = tmp_path / "model_driver"
    srcs = [CDIR / "model_driver.c", *(VM / n for n in MODEL_SRCS), VM / "rmt_alloc.c",
            VM / "rmt_compat.c"]
    build = subprocess.run([_gcc(), *SANITIZE, *WARN, f"-I{VM}", *map(str, srcs), "-o",
                            str(exe), "-lpthread"], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    rnd = random.Random(7)
    edge = [-2**31, 2**31 - 1, -1, 0, 1, 50, -50]
    for case in range(150):
        model, w = _random_model(rnd, case)
        blob = W.write_weights(w)
        if case % 5 == 4:                               # corrupt a byte or the length
            b = bytearray(blob)
            if rnd.random() < 0.2:
                b = b[:rnd.randrange(len(b))]
            else:
                b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
            blob = bytes(b)
        inputs = [[rnd.choice([rnd.choice(edge), rnd.randint(-2**31, 2**31 - 1),
                               rnd.randint(-60, 60)]) for _ in range(model.n_in)]
                  for _ in range(20)]
        try:
            ref = W.read_weights(blob, model)
        except W.WeightsError as e:
            ref, why, where = None, e.why, e.where
        run = subprocess.run([str(exe)], input=_driver_input(model, blob, inputs),
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        ret = int(lines[0].split()[1])
        if ref is None:
            assert ret != 0, f"case {case}: C accepted a blob Python rejects ({why})"
            # the same part is blamed (the wording may differ: C does not know the name)
            assert lines[1].startswith(f"weights {where}:"), \
                f"case {case}: C says {lines[1]!r}, Python {where}: {why}"
            continue
        assert ret == 0, f"case {case}: C rejected a blob Python accepts: {lines[1]}"
        for x, line in zip(inputs, lines[2:], strict=True):
            want, ov = M.infer(ref, x, (model.in_lo, model.in_hi))
            got = list(map(int, line.split()))
            assert got == want + [ov], f"case {case} input {x}: C {got}, Python {want} {ov}"
