"""Encryption at rest: the master key (``master``), tenant keys (``keys``), sealed columns and blind
indexes (``fields``), data-key rotation (``rotation``)."""
