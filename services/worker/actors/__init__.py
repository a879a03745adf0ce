"""Actors, one module per domain. Importing this package declares them all on the broker."""

from services.worker.actors import diagnostics, keys, outbox, reports

__all__ = ["diagnostics", "keys", "outbox", "reports"]
