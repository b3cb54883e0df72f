"""'did you mean' suggestions for mistyped names (difflib's close matches)."""
from __future__ import annotations

import difflib
from typing import Iterable


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most similar to `name`, if any is similar enough."""
    pool = sorted(set(candidates))
    hits = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not hits:
        # case slips (`deny` for `DENY`) are common with decision names
        lowered = {c.lower(): c for c in pool}
        hit = lowered.get(name.lower())
        return hit
    return hits[0]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """"; did you mean 'x'?" or "" when nothing is close."""
    hit = closest(name, candidates)
    return f"; did you mean '{hit}'?" if hit else ""
