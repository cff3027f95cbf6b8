"""The pipeline core's exceptions (one module, like faust's): what the ports raise and the core reacts to."""

from __future__ import annotations


class PermanentStoreError(Exception):
    """The result store refused a write for a reason tied to its content (a value the database cannot
    hold, a violated constraint): retrying the same rows can never succeed. Every other exception from a
    store is taken as transient (database down, connection reset) and the batch is retried, without end.

    `reason` is the store's own words, carried into the dead letter of the offending board."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
