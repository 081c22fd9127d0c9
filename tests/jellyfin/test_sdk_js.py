"""@jellyfin/sdk (npm), under node's built-in test runner, logs in and browses a real
Ferrite server; every response it got is then checked against the Jellyfin OpenAPI
document. Installed by scripts/bootstrap (``npm ci`` in tests/jellyfin/sdkjs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.jellyfin import openapi
from tests.jellyfin.conftest import Jf

SDK_DIR = Path(__file__).parent / "sdkjs"


def test_jellyfin_sdk_logs_in_and_browses(jf: Jf, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (SDK_DIR / "node_modules" / "@jellyfin" / "sdk").is_dir():
        pytest.fail("node and tests/jellyfin/sdkjs/node_modules are needed: run scripts/bootstrap")
    record = tmp_path / "responses.jsonl"
    env = {**os.environ, "JF_URL": jf.url, "JF_RECORD": str(record)}
    done = subprocess.run(
        [node, "--test", "--test-reporter=spec", "flow.test.mjs"],
        cwd=SDK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "pass 1" in done.stdout
    problems: list[str] = []
    lines = record.read_text().splitlines()
    for line in lines:
        ex = json.loads(line)
        if ex["method"] == "HEAD" or ex["path"].startswith("/api/"):
            continue
        problems += openapi.check(
            ex["method"], ex["path"], ex["status"], ex["body"].encode(), ex["contentType"]
        )
    assert len(lines) >= 9
    assert problems == []
