"""A bounded fuzz pass over the OpenAPI schema: no 500, no traceback, in any response.

Schemathesis generates requests from ``/openapi.json`` -- valid ones (positive) and ones
that break the schema (negative) -- for every operation, and a real server on 127.0.0.1
answers them with an admin's token. A few examples per operation and mode keep the pass
well under a minute; the request count and the outcome classes are printed (``-s``).

Left out: ``POST /api/auth/logout`` (would revoke the token mid-run) and ``POST
/api/torrents`` (a generated magnet may name trackers: libtorrent would dial them).
Scanning is off, so a generated library path cannot start a walk of the machine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from ferrite import config
from ferrite.app import create_app
from ferrite.auth.passwords import Passwords
from tests import postgres
from tests.api.server import AppClient, ServerThread

EXAMPLES = 8  # per operation and generation mode
SKIP = {("POST", "/api/auth/logout"), ("POST", "/api/torrents")}


@pytest.fixture(scope="module", params=postgres.backends())
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[AppClient]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    url = ""  # SQLite in the data directory
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_cluster").create_database(migrated=True)
    settings_ = config.load(
        {
            "data_dir": data,
            "database_url": url,
            "watch": False,
            "demo": False,
            "libraries": (),
            "torrent_dht": False,
            "torrent_lsd": False,
            "torrent_listen_host": "127.0.0.1",
            "torrent_listen_port": 0,
        },
        environ={},
    )
    passwords = Passwords(time_cost=1, memory_cost_kib=1024)
    app = create_app(settings_, passwords=passwords, scanner_factory=None)
    srv = ServerThread(app).start()
    try:
        with AppClient(srv) as c:
            assert c.post("/api/setup", json={"username": "root", "password": "password-1"})
            yield c
    finally:
        srv.stop()
        passwords.close()
        if url:
            request.getfixturevalue("pg_cluster").drop_database(url)


def _token(c: AppClient) -> str:
    r = c.post("/api/auth/login", json={"username": "root", "password": "password-1"})
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def test_no_request_gets_a_500_or_a_traceback(server: AppClient, tmp_path: Path) -> None:
    schema = schemathesis.openapi.from_dict(server.get("/openapi.json").json())
    operations = [
        op
        for result in schema.get_all_operations()
        if (op := result.ok()) is not None and (op.method.upper(), op.path) not in SKIP
    ]
    headers = {"Authorization": f"Bearer {_token(server)}"}
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    session = requests.Session()
    modes = list(schemathesis.GenerationMode)

    for op in operations:
        for mode in modes:
            strategy = op.as_strategy(generation_mode=mode)

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy, auth=st.booleans())
            def fuzz(case: schemathesis.Case, auth: bool) -> None:
                response = case.call(
                    base_url=server.server.url, session=session, headers=headers if auth else {}
                )
                status = response.status_code
                outcomes[f"{status // 100}xx"] += 1
                outcomes[str(status)] += 1
                text = response.text
                if status >= 500 or "Traceback" in text:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {status}: {text[:300]}"
                    )

            try:
                fuzz()
            except Unsatisfiable:  # nothing to break in an operation without inputs
                outcomes["no-negative-cases"] += 1
    total = sum(v for k, v in outcomes.items() if k.endswith("xx"))
    print(f"\nfuzz: {len(operations)} operations, {total} requests, outcomes {dict(outcomes)}")
    assert total >= len(operations) * len(modes)
    assert failures == []
