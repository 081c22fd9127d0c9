"""Several nodes starting at once on an empty PostgreSQL database migrate it once."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from ferrite.db.engine import MIGRATIONS
from tests import postgres

# Each process imports everything, connects, then waits for the common start time, so
# the three migrate() calls really do overlap.
NODE = """
import sys, time
from ferrite.db.engine import Database
db = Database(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
print(db.migrate(), flush=True)
db.close()
"""


@pytest.mark.slow
def test_three_nodes_on_an_empty_database_migrate_once(request: pytest.FixtureRequest) -> None:
    if "postgresql" not in postgres.backends():
        pytest.skip(f"PostgreSQL only: {postgres.ENV} does not name it (scripts/test does)")
    pg_cluster: postgres.Cluster = request.getfixturevalue("pg_cluster")
    url = pg_cluster.create_database()
    try:
        start_at = time.time() + 4.0
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", NODE, url, str(start_at)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            results.append(out.strip())
        # One node found the database empty and migrated it; the others waited on the
        # advisory lock and found it at head.
        assert sorted(results) == sorted([str(head), str(head), "None"]), results
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
                assert versions == [(head,)]
        finally:
            engine.dispose()
    finally:
        pg_cluster.drop_database(url)
