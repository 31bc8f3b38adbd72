"""Seed the experiment table for the service benches in SQL: one INSERT … SELECT over
generate_series (and one for the tags), so 10^6 rows take seconds of PostgreSQL, not minutes of
Python building a dict per row (10^5 rows took 95 s at load 15 that way).

The rows follow bench/api_load.py's mix (its OWNERS, STATUSES, TARGETS and DS with their
weights; test_mse log-normal for finished runs; half of them tagged t0..t49), drawn with
PostgreSQL's random() after setseed, so a run is repeatable."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import create_engine, text

DRAWS = ("owner", "priority", "target", "algorithm", "d", "seeds", "status", "ran", "m1", "m2")
DRAWS += ("m3", "m4")


def pick(values: list[Any], weights: list[int], draw: str) -> str:
    """A CASE choosing values[i] with probability weights[i] / sum(weights) for `draw` in [0, 1)."""
    total, edge, cases = sum(weights), 0, []
    for value, weight in zip(values[:-1], weights[:-1], strict=True):
        edge += weight
        cases.append(f"WHEN {draw} < {edge / total!r} THEN {sql_literal(value)}")
    return f"(CASE {' '.join(cases)} ELSE {sql_literal(values[-1])} END)"


def sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def normal(u1: str, u2: str) -> str:
    """A standard normal draw from two uniforms (Box–Muller); 1 - u keeps the log finite."""
    return f"(sqrt(-2 * ln(1 - {u1})) * cos(2 * pi() * {u2}))"


def seed_rows_sql(
    url: str, rows: int, mix: Any, spec_json: dict[str, Any], spec_hash: str
) -> dict[str, Any]:
    """`rows` experiments and tags on the even ids; `mix` is bench/api_load (its weights).
    Returns counts, seconds, and the ids."""
    status = pick(mix.STATUSES, mix.STATUS_WEIGHTS, "g.u_status")
    finished = "r.status IN ('completed', 'failed', 'diverged', 'cancelled')"
    ran = "(r.status NOT IN ('queued', 'cancelled') OR r.u_ran < 0.5)"
    insert = f"""
    INSERT INTO experiment (
        name, owner, priority, status, spec, spec_hash, target, algorithm, d, width, seeds,
        attempt, max_attempts, cancel_requested, dispatched_at, samples_done, samples_total,
        created_at, updated_at, started_at, finished_at, lease_expires_at, test_mse,
        final_median_abs_m, wall_time_s, error)
    SELECT
        'run ' || r.i, r.owner, r.priority, r.status,
        jsonb_set(CAST(:spec AS jsonb), '{{d}}', to_jsonb(r.d))::json, :spec_hash,
        r.target, r.algorithm, r.d, 8, r.seeds,
        CASE WHEN {ran} THEN 1 ELSE 0 END, 3, false,
        CASE WHEN r.status = 'queued' THEN now() ELSE r.created END,
        CASE WHEN {finished} THEN 100000 ELSE 0 END, 100000,
        r.created, r.created,
        CASE WHEN {ran} THEN r.created + interval '5 seconds' END,
        CASE WHEN {finished} AND {ran} THEN r.created + interval '10 minutes' END,
        CASE WHEN r.status = 'running' THEN now() + interval '1 hour' END,
        CASE WHEN r.status = 'completed' THEN exp(-3 + 1.5 * {normal("r.u_m1", "r.u_m2")})
             WHEN r.status = 'diverged' THEN exp({normal("r.u_m1", "r.u_m2")}) END,
        CASE WHEN r.status = 'completed' THEN r.u_m3 END,
        CASE WHEN r.status = 'completed' THEN 5 + 3595 * r.u_m4 END,
        CASE WHEN r.status = 'failed' THEN 'RuntimeError: boom' END
    FROM (
        SELECT g.*, {status} AS status,
            {pick(mix.OWNERS, mix.OWNER_WEIGHTS, "g.u_owner")} AS owner,
            {pick([0, 10, -10], [3, 1, 1], "g.u_priority")} AS priority,
            {pick(mix.TARGETS, mix.TARGET_WEIGHTS, "g.u_target")} AS target,
            {pick(["reuse", "online"], [1, 1], "g.u_algorithm")} AS algorithm,
            {pick(mix.DS, [1] * len(mix.DS), "g.u_d")} AS d,
            {pick([1, 8, 32], [1, 1, 1], "g.u_seeds")} AS seeds
        FROM (
            -- each draw once per row: a CASE's WHENs would each call random() again
            SELECT i,
                now() - interval '90 days' + (interval '90 days' / :rows) * i AS created,
                {", ".join(f"random() AS u_{name}" for name in DRAWS)}
            FROM generate_series(0, :rows - 1) AS i
        ) AS g
    ) AS r
    ORDER BY r.i
    """
    engine = create_engine(url)
    began = time.perf_counter()
    try:
        with engine.begin() as connection:
            # The secondary indexes are built once after the insert, not row by row during it
            # (experiment has ~30); the primary keys stay.
            indexes = connection.execute(
                text(
                    "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                    "WHERE i.schemaname = 'public' "
                    "AND i.tablename IN ('experiment', 'experiment_tag') "
                    "AND i.indexname NOT IN (SELECT conname FROM pg_constraint)"
                )
            ).all()
            for name, _ in indexes:
                connection.execute(text(f'DROP INDEX "{name}"'))
            connection.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
            connection.execute(text("SELECT setseed(0.7)"))
            connection.execute(
                text(insert), {"rows": rows, "spec": json.dumps(spec_json), "spec_hash": spec_hash}
            )
            tagged = connection.execute(
                text(
                    "INSERT INTO experiment_tag (experiment_id, tag) "
                    "SELECT id, 't' || (id % 50) FROM experiment WHERE id % 2 = 0"
                )
            ).rowcount
            for _, definition in indexes:
                connection.execute(text(definition))
            # The owners' counters, as migration usage01 fills them (no chunks: no trace points).
            connection.execute(
                text(
                    "INSERT INTO owner_usage (owner, trace_points, queued) SELECT owner, 0, "
                    "sum(CASE WHEN status = 'queued' THEN 1 ELSE 0 END) FROM experiment "
                    "GROUP BY owner"
                )
            )
            ids = list(connection.execute(text("SELECT id FROM experiment ORDER BY id")).scalars())
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE experiment"))
            connection.execute(text("VACUUM ANALYZE experiment_tag"))
    finally:
        engine.dispose()
    return {
        "rows": rows,
        "tagged": tagged,
        "seconds": round(time.perf_counter() - began, 1),
        "method": "one INSERT … SELECT generate_series with the secondary indexes dropped and "
        "rebuilt after (bench/seed_sql.py), then VACUUM ANALYZE",
        "indexes_rebuilt": len(indexes),
        "ids": ids,
    }
