"""The run-time abort signal shared by the interpreter and the state it touches.

Maps, models and helpers raise Trap when a run-time check fails; the
interpreter catches it, records the pc and turns the run into DEFAULT
(docs/semantics.md, "An invocation", step 4).
"""
from __future__ import annotations

from rmt.contract.isa import Abort


class Trap(Exception):
    """A failed run-time check; `reason` is the rmt.contract.isa.Abort value."""

    def __init__(self, reason: Abort):
        super().__init__(reason.name)
        self.reason = reason
