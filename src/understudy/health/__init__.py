"""Health memory: which profiles are cooling down after repeated failures (``circuit``)."""
