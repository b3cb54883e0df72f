"""Every shell session in README.md and docs/*.md runs as written, on a fresh state.

A session is a fenced block marked `sh`, `bash`, `shell` or `console`.  Each runs
in `bash -euo pipefail`, in a scratch directory that mirrors the repository
(examples/ copied, so compiled objects land there; everything else linked),
with `.venv/bin` first on PATH and HOME, XDG_STATE_HOME and RMT_SIM_STATE
pointing into the scratch directory, so no state is shared with the user's or
with another session.

A block that needs a kernel, QEMU, or a long run is skipped only when the line
before its fence says so, with the reason:

    <!-- docs-test: skip: needs QEMU (make test runs it) -->

A skip marker without a reason is an error, as is a block whose language is
not a shell.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHELLS = ("sh", "bash", "shell", "console")
SKIP = re.compile(r"<!--\s*docs-test:\s*skip(?::\s*(?P<why>.*?))?\s*-->")


@dataclass
class Session:
    file: Path
    line: int
    text: str
    skip: str | None


def sessions() -> list[Session]:
    out = []
    for f in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        lines = f.read_text().splitlines()
        i = 0
        while i < len(lines):
            m = re.match(r"^```(\w+)\s*$", lines[i])
            if m and m.group(1) in SHELLS:
                start = i
                j = i + 1
                while j < len(lines) and not lines[j].startswith("```"):
                    j += 1
                prev = lines[start - 1] if start else ""
                sk = SKIP.search(prev)
                why = None
                if sk:
                    why = (sk.group("why") or "").strip()
                    if not why:
                        raise AssertionError(f"{f.name}:{start}: a docs-test skip needs a reason")
                out.append(Session(f, start + 1, "\n".join(lines[start + 1:j]), why))
                i = j
            elif lines[i].startswith("```"):      # any other fence: skip to its end
                j = i + 1
                while j < len(lines) and not lines[j].startswith("```"):
                    j += 1
                i = j
            i += 1
    return out


ALL = sessions()


def scratch(tmp: Path) -> Path:
    work = tmp / "repo"
    work.mkdir()
    for p in ROOT.iterdir():
        if p.name in (".git", "build"):
            continue
        if p.name == "examples":
            import shutil
            shutil.copytree(p, work / p.name, ignore=shutil.ignore_patterns("*.rmtb", "*.bin"))
        else:
            (work / p.name).symlink_to(p)
    (work / "build").mkdir()
    return work


@pytest.mark.parametrize("s", ALL, ids=[f"{s.file.name}:{s.line}" for s in ALL])
def test_session_runs(s: Session, tmp_path):
    if s.skip:
        pytest.skip(s.skip)
    work = scratch(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("RMT_TARGET", "RMT_SIM_STATE")}
    env.update(PATH=f"{ROOT / '.venv/bin'}:{env['PATH']}", HOME=str(tmp_path / "home"),
               XDG_STATE_HOME=str(tmp_path / "xdg"), RMT_SIM_STATE=str(tmp_path / "sim"),
               PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", s.text], cwd=work, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (f"{s.file.name}:{s.line}: exit {r.returncode}\n--- stdout\n"
                               f"{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}")
    assert "Traceback" not in r.stderr, r.stderr


def test_every_skip_says_why():
    for s in ALL:
        assert s.skip is None or len(s.skip) > 5, (s.file, s.line)
