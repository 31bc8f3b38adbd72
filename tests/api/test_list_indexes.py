"""Every list filter and sort of GET /experiments is served by an index on PostgreSQL: at 10^5
experiments, EXPLAIN of each query api.listing.list_experiments builds shows no sequential scan
over experiment (and the tag filter none over experiment_tag)."""

from __future__ import annotations

from sqlalchemy import create_engine, select, text
from sqlalchemy.dialects import postgresql

from api.listing import Filters, Sort, encode_cursor, list_query, page_queries
from api.schemas import SORT_KEYS
from db.models import Experiment
from db.session import make_sessionmaker

ROWS = 100_000

FILTERS = {
    "none": Filters(),
    "status": Filters(status=["completed"]),
    "owner": Filters(owner="user7"),
    "target": Filters(target="h4"),
    "algorithm": Filters(algorithm="online"),
    "d range": Filters(d_min=64, d_max=128),
    "tag": Filters(tag=["t13"]),
    "status + target": Filters(status=["completed"], target="h3"),
    "held recovery": Filters(held_recovery_samples_max=1000.0),
    "held fraction": Filters(held_recovery_fraction_min=0.9),
}


def populate(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO experiment (name, owner, priority, status, spec, spec_hash, target, "
                "algorithm, d, width, seeds, attempt, max_attempts, cancel_requested, "
                "samples_done, samples_total, created_at, updated_at, test_mse, "
                "final_median_abs_m, weak_recovery_samples, held_recovery_samples, "
                "held_recovery_fraction, wall_time_s) "
                "SELECT 'e' || i, 'user' || (i % 40), 0, "
                "(ARRAY['queued','running','completed','failed','diverged','cancelled'])"
                "[1 + i % 6],"
                " '{}', md5(i::text), (ARRAY['h3','h4','h3+h4'])[1 + i % 3], "
                "(ARRAY['reuse','online','gd'])[1 + i % 3], 16 * (1 + i % 32), 8, 2, 1, 3, "
                "false, 0, 0, now() - i * interval '1 second', now(), "
                "CASE WHEN i % 5 = 0 THEN NULL ELSE random() END, random(), "
                "CASE WHEN i % 3 = 0 THEN NULL ELSE random() * 1e5 END, "
                "CASE WHEN i % 4 = 0 THEN NULL ELSE random() * 1e5 END, random(), random() * 100 "
                "FROM generate_series(1, :rows) AS i"
            ),
            {"rows": ROWS},
        )
        connection.execute(
            text(
                "INSERT INTO experiment_tag (experiment_id, tag) "
                "SELECT id, 't' || (id % 50) FROM experiment"
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE experiment"))
        connection.execute(text("ANALYZE experiment_tag"))
    engine.dispose()


def test_no_sequential_scan_over_experiment(postgres_url: str) -> None:
    populate(postgres_url)
    engine = create_engine(postgres_url)
    scanned = []
    try:
        with engine.connect() as connection:
            for where, filters in FILTERS.items():
                for key in SORT_KEYS:
                    for descending in (True, False):
                        query = list_query(filters, Sort(key, descending), cursor=None, limit=51)
                        sql = str(
                            query.compile(
                                dialect=postgresql.dialect(),
                                compile_kwargs={"literal_binds": True},
                            )
                        )
                        plan = "\n".join(r[0] for r in connection.execute(text("EXPLAIN " + sql)))
                        if "Seq Scan on experiment" in plan:
                            scanned.append(f"{where} / {'-' * descending}{key}:\n{plan}")
            # The detector works: a sort no index serves reads the whole table.
            control = select(Experiment).order_by(Experiment.samples_done.desc()).limit(51)
            sql = str(
                control.compile(
                    dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                )
            )
            plan = "\n".join(r[0] for r in connection.execute(text("EXPLAIN " + sql)))
            assert "Seq Scan on experiment" in plan, plan
    finally:
        engine.dispose()
    assert not scanned, "\n\n".join(scanned)


def test_a_page_after_a_cursor_starts_its_index_scan_at_the_cursor(postgres_url: str) -> None:
    """Every sort, after a cursor from the middle: each SELECT of the page (api.listing's
    page_queries: the rest of the non-NULL rows, then the NULL tail) has the cursor or the
    NULL range in its Index Cond, so PostgreSQL does not walk the index from its start."""
    populate(postgres_url)
    engine = create_engine(postgres_url)
    walked = []
    try:
        with make_sessionmaker(engine)() as session:
            for key in SORT_KEYS:
                for descending in (True, False):
                    sort = Sort(key, descending)
                    middle = session.scalars(
                        list_query(Filters(), sort, cursor=None, limit=1).offset(ROWS // 3)
                    ).one()
                    cursor = encode_cursor(sort, middle)
                    for query in page_queries(Filters(), sort, cursor=cursor):
                        sql = str(
                            query.limit(51).compile(
                                dialect=postgresql.dialect(),
                                compile_kwargs={"literal_binds": True},
                            )
                        )
                        plan = "\n".join(session.execute(text("EXPLAIN " + sql)).scalars())
                        if "Index Cond" not in plan:
                            walked.append(f"{'-' * descending}{key}:\n{plan}")
    finally:
        engine.dispose()
    assert not walked, "\n\n".join(walked)
