"""Property proofs with concrete weights: the accept/reject twins of tests/props/cases.json.

Each case compiles a program of tests/props/, builds its weights, proves its properties
(rmt.verifier.verify with `properties`) and compares every property's status with the
expected one; a violation must show the expected context fields (its reason), and its
counterexample, replayed on the reference semantics (the context, the table entry it
names, the weights), must really give the decision it reports.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rmt.compiler.driver import compile_full
from rmt.contract import codec
from rmt.contract import weights as W
from rmt.contract.engine import Entry, Exact
from rmt.semantics.reference import ReferenceEngine
from rmt.verifier.verify import VerifyOptions, verify

HERE = Path(__file__).parent / "props"
CASES = json.loads((HERE / "cases.json").read_text())["cases"]


def _blob(model, spec: dict) -> bytes:
    if "mlp" in spec:
        return W.blob_for(model, layers=[tuple(ly) for ly in spec["mlp"]])
    f = spec["forest"]
    trees = [W.tree_from_arrays(*t) for t in f["trees"]]
    return W.blob_for(model, trees=trees, shift=f["shift"])


def _compiled(name: str):
    c = compile_full((HERE / name).read_text(), name)
    return c.program, c.properties


def prove(case: dict, timeout_ms: int = 60_000):
    prog, props = _compiled(case["program"])
    blobs = {m: _blob(next(x for x in prog.models if x.name == m), s)
             for m, s in case["weights"].items()}
    rep = verify(prog, VerifyOptions(weights=blobs, properties=props, timeout_ms=timeout_ms))
    return prog, blobs, rep


def replay(prog, blobs: dict[str, bytes], cx: dict) -> int:
    """The decision the reference semantics makes on the counterexample."""
    eng = ReferenceEngine(prog)
    for name, blob in blobs.items():
        eng.model_load([m.name for m in prog.models].index(name), blob)
    for tname, choice in cx["tables"].items():
        ti = [t.name for t in prog.tables].index(tname)
        t = prog.tables[ti]
        ai = [a.name for a in t.actions].index(choice["action"])
        params = bytearray(t.actions[ai].param_size)
        for p in t.actions[ai].params:
            v = choice["params"][p.name] & ((1 << p.bits) - 1)
            params[p.offset:p.offset + p.bits // 8] = v.to_bytes(p.bits // 8, "little")
        # an exact entry on the counterexample's own key values (the test programs key on
        # one scalar context field)
        key = cx["ctx"][t.keys[0].name.removeprefix("ctx.")]
        eng.table_insert(ti, Entry((Exact(key),), ai, bytes(params)))
    return eng.run(codec.ctx_encode(prog.hook, cx["ctx"])).decision


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict):
    prog, blobs, rep = prove(case)
    got = {p.name: p.status for p in rep.properties}
    assert got == case["expect"], [(p.name, p.status, p.message) for p in rep.properties]
    for p in rep.properties:
        if p.status != "violated":
            continue
        cx = p.counterexample
        want = case.get("reason", {}).get(p.name, {})
        for k, v in want.get("ctx", {}).items():
            assert cx["ctx"][k] == v, (p.name, k, cx["ctx"])
        if "table" in want:
            t, a = want["table"]
            assert cx["tables"][t]["action"] == a
        if "decision" in want:
            assert cx["values"]["decision"] == want["decision"]
        if "value'" not in cx["values"]:              # a one-run property: replay it
            assert replay(prog, blobs, cx) == cx["values"]["decision"], (p.name, cx)


def test_located_at_the_property():
    _, _, rep = prove(CASES[1])
    bad = next(p for p in rep.properties if p.name == "busy_src")
    src = (HERE / "score.rmt").read_text().splitlines()
    assert src[bad.line - 1].startswith("property busy_src:")
    assert bad.col == 1 and bad.file == "score.rmt"
    assert not rep.accepted


def test_timeout_refuses():
    """A proof cut short is a refusal that says so, never a pass."""
    _, _, rep = prove(CASES[0], timeout_ms=1)
    timed = [p for p in rep.properties if p.status == "timeout"]
    if not timed:
        pytest.skip("every query finished within 1 ms on this machine")
    assert not rep.accepted
    assert all("not proved within" in p.message for p in timed)


def test_rmtc_verify_cli(tmp_path):
    """`rmtc verify --weights` proves the .rmtp beside the object (exit 1 and the property's
    line on a violation, JSON too); without --weights the properties are not proved."""
    import subprocess
    rmtc = str(Path(__file__).resolve().parent.parent / ".venv/bin/rmtc")
    src = tmp_path / "score.rmt"
    src.write_text((HERE / "score.rmt").read_text().split("// violated by any weights")[0])
    subprocess.run([rmtc, "compile", str(src)], check=True, capture_output=True)
    prog, _ = _compiled("score.rmt")
    for name, case in (("good", CASES[0]), ("bad", CASES[1])):
        (tmp_path / f"{name}.bin").write_bytes(_blob(prog.models[0], case["weights"]["m"]))
    obj = str(tmp_path / "score.rmtb")
    r = subprocess.run([rmtc, "verify", obj], capture_output=True, text=True)
    assert r.returncode == 0 and "property" not in r.stdout
    r = subprocess.run([rmtc, "verify", obj, "--weights", f"m={tmp_path / 'good.bin'}"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.count(": proved (") == 3, r.stdout
    r = subprocess.run([rmtc, "verify", obj, "--weights", f"m={tmp_path / 'bad.bin'}"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert re.search(r"score.rmt:\d+:1: property busy_src: VIOLATED \(\d+\.\d\d s\)", r.stdout)
    assert "rejected: 1 of 3 properties not proved" in r.stdout
    r = subprocess.run([rmtc, "verify", obj, "--json", "--weights", f"m={tmp_path / 'bad.bin'}"],
                       capture_output=True, text=True)
    props = {p["name"]: p for p in json.loads(r.stdout)["properties"]}
    assert props["busy_src"]["counterexample"]["ctx"]["src_nr_running"] == 3
    r = subprocess.run([rmtc, "verify", obj, "--props", str(tmp_path / "missing.rmtp"),
                        "--weights", f"m={tmp_path / 'good.bin'}"], capture_output=True, text=True)
    assert r.returncode == 1 and "cannot read properties" in r.stderr
    assert "Traceback" not in r.stderr
