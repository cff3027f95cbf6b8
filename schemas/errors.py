"""The one error type for rejected input: every rejection names the field and says how to fix it."""

from __future__ import annotations


class InvalidEvent(Exception):  # noqa: N818 (the contract names it so)
    """An event (or message) that breaks its contract.

    `field` is a dotted path with the first offending index for arrays (e.g. `pads.volume_pct[17]`),
    or `event` when the problem concerns the whole message; `problem` says what is wrong and the fix.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem

    def __reduce__(self) -> tuple[type[InvalidEvent], tuple[str, str]]:
        return (InvalidEvent, (self.field, self.problem))
