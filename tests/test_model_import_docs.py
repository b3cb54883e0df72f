"""docs/models.md runs as written: the complete example (training to `rmtctl model load`)
and the weights-writer snippet."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "models.md").read_text()

pytest.importorskip("sklearn")
pytest.importorskip("skops")


def _block(after: str, lang: str) -> str:
    start = DOC.index(after)
    m = re.compile(rf"```{lang}\n(.*?)```", re.S).search(DOC, start)
    assert m, f"no ```{lang} block after {after!r}"
    return m.group(1)


def test_complete_example_runs(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "activate").exists():
        pytest.skip("the example activates the repository's .venv (make setup)")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("RMT_SIM_STATE", None)
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", _block("models-example", "sh")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "forest model 'window' (regression)" in r.stdout
    assert "decisions agree on 100.00%" in r.stdout
    assert re.search(r"window forest 4->1\s+version 1", r.stdout), r.stdout


def test_writer_snippet_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    ns: dict = {}
    exec(compile(_block("## Writing weights yourself", "python"), "docs/models.md", "exec"), ns)
    from rmt.contract import weights as W
    back = W.read_weights(ns["blob"], ns["score"])
    assert back.layers[0].weights == [[3, -1, 2, 0]] and back.layers[0].bias == [5]
    assert [n.feature for n in ns["tree"].nodes] == [0, -1, -1]
