"""The hidden checks, one module per chapter (same name as its template); each registers with ``@exercise``."""
