"""Every program under tests/lang/bad/ produces exactly the diagnostics in its .err file."""
from __future__ import annotations

from pathlib import Path

import pytest
from expected import diagnostics_text

HERE = Path(__file__).parent / "lang"


BAD = sorted((HERE / "bad").glob("*.rmt"))


def test_corpus_is_large_enough():
    assert len(BAD) >= 45


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_program(path: Path):
    expected = path.with_suffix(".err").read_text()
    assert expected.strip(), f"{path.name}: empty .err file"
    assert diagnostics_text(path) == expected


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_program_is_rejected_or_warned(path: Path):
    """An .err file that lost its errors would make the case pointless."""
    text = path.with_suffix(".err").read_text()
    assert ": error: " in text or path.stem.startswith("warnings_")
