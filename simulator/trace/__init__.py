"""The trace: a versioned event schema written as Parquet parts."""

from simulator.trace.schema import EVENT_SCHEMA, SCHEMA_VERSION, EventKind
from simulator.trace.writer import TraceWriter

__all__ = ["EVENT_SCHEMA", "SCHEMA_VERSION", "EventKind", "TraceWriter"]
