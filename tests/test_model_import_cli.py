"""`rmtc model import` end to end: files in, a weights blob out, refusals as one line on
stderr with exit 1 and nothing written; calibration from .npz, CSV and a trace file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
skio = pytest.importorskip("skops.io")

from sklearn.ensemble import RandomForestClassifier  # noqa: E402

import model_import_vm as V  # noqa: E402
from rmt.contract import objfile  # noqa: E402
from rmt.rmtc import main as rmtc  # noqa: E402
from rmt.model_import import import_model  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(3)
    x = rng.integers(V.LO, V.HI + 1, (300, V.N_IN))
    y = ((x[:, 0] > 100) | (x[:, 1] + x[:, 2] < -200)).astype(int)
    est = RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0).fit(x, y)
    skio.dump(est, d / "rf.skops")
    prog = V.program("forest(trees = 4, depth = 4);", 1)
    (d / "prog.rmtb").write_bytes(objfile.write(prog))
    np.savez(d / "cal.npz", x=x)
    np.savetxt(d / "cal.csv", x, fmt="%d", delimiter=",", header="a,b,c,d", comments="")
    with open(d / "cal.jsonl", "w") as f:
        for row in x:
            f.write(json.dumps({"prog": "t", "fmt": "f@1", "cpu": 0, "ts": 0,
                                "fields": {f"x_{i}": int(v) for i, v in enumerate(row)}}) + "\n")
    return {"dir": d, "model": d / "rf.skops", "prog": d / "prog.rmtb", "npz": d / "cal.npz",
            "csv": d / "cal.csv", "trace": d / "cal.jsonl"}


def _run(files: dict[str, Path], *extra: str, cal: str = "npz", out: str = "w.bin") -> int:
    return rmtc(["model", "import", str(files["model"]), "--program", str(files["prog"]),
                 "--model", "m", "-o", str(files["dir"] / out), "--calibration",
                 str(files[cal]), *extra])


@pytest.mark.parametrize("cal", ["npz", "csv", "trace"])
def test_cli_writes_the_api_blob(files: dict[str, Path], cal: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(files, "--json", cal=cal, out=f"{cal}.bin") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "forest" and report["rows"] == 300
    assert report["agreement"] >= 0.995 and report["refused"] is None
    x = np.load(files["npz"])["x"]
    api = import_model(files["model"], files["prog"], "m", x)
    assert (files["dir"] / f"{cal}.bin").read_bytes() == api.blob
    prog = objfile.read(files["prog"].read_bytes())
    assert np.array_equal(V.run(prog, api.blob, x), api.emulate(x, prog.models[0]))


def test_cli_refusals_are_one_line_and_write_nothing(files: dict[str, Path],
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    out = files["dir"] / "never.bin"
    cases = [
        (["--model", "nope"], "has no model 'nope'"),
        (["--min-agreement", "100", "--out-frac", "-4"], "below the required 100.00%"),
    ]
    for extra, want in cases:
        argv = ["model", "import", str(files["model"]), "--program", str(files["prog"]),
                "--model", "m", "-o", str(out), "--calibration", str(files["npz"])]
        if extra[0] == "--model":
            argv[argv.index("--model") + 1] = extra[1]
        else:
            argv += extra
        assert rmtc(argv) == 1
        err = capsys.readouterr().err
        assert want in err and err.count("\n") == 1 and "Traceback" not in err, err
        assert not out.exists()
    bad = files["dir"] / "bad.csv"
    bad.write_text("1,2,3,4\n5,6,x,8\n")
    assert _run({**files, "csv": bad}, cal="csv", out="never.bin") == 1
    assert "bad.csv:2: a non-numeric value" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        rmtc(["model", "import", str(files["model"]), "--program", str(files["prog"]),
              "--model", "m", "-o", str(out), "--min-agreement", "101"])
    assert e.value.code == 2 and "'101' is not in 0..100" in capsys.readouterr().err
    assert not out.exists()


def test_cli_force_writes_below_the_bar(files: dict[str, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(files, "--min-agreement", "100", "--out-frac", "-4", "--force", "--json",
                out="forced.bin") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["agreement"] < 1.0 and "below the required" in report["refused"]
    assert (files["dir"] / "forced.bin").stat().st_size > 0
