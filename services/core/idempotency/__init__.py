"""Idempotency keys: a retried mutation returns its first outcome instead of running twice."""
