"""The trace store: points kept as chunks of one seed's series in one phase (db.models.TraceChunk).

Writer side (the worker): `OpenChunks` holds the chunks an attempt has not yet seen committed;
each flush upserts them WHOLE (`upsert`), so a rewrite is idempotent and a redelivered flush
changes nothing. On resume from a checkpoint at step s, `OpenChunks.reload` reads back the last
stored chunk of every series, keeps its points with step ≤ s, and continues the ordinals from
there; the re-emitted points land on the same keys with the same numbers. A stored chunk is
never replaced by one with fewer points (the upsert's WHERE), so a resumed attempt rewriting an
open chunk does not hide, even for a moment, the points the earlier attempt stored after s.

Reader side: `read` yields decoded chunks in (experiment, seed, phase, step) order from a
streaming cursor (constant memory for any length); `read_series` concatenates them per series.
`merge_points` adds loose points (fixtures, the migration, tools) by read-modify-write.

Modules: chunks (the shapes), writer, reader, merge; every public name is imported here
(`from db import traces`).
"""

from __future__ import annotations

from db.traces.chunks import CHUNK_POINTS, KEYS, ChunkRow, Series
from db.traces.merge import merge_points
from db.traces.reader import READ_BATCH, count_points, points, read, read_series
from db.traces.writer import OpenChunks, remove, upsert

__all__ = [
    "CHUNK_POINTS",
    "KEYS",
    "READ_BATCH",
    "ChunkRow",
    "OpenChunks",
    "Series",
    "count_points",
    "merge_points",
    "points",
    "read",
    "read_series",
    "remove",
    "upsert",
]
