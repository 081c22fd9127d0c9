"""``ferrite`` command line: user add, scan, serve (as a real subprocess), exit codes."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ferrite import cli
from ferrite.auth import users
from ferrite.auth.passwords import Passwords
from ferrite.db.engine import Database


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("FERRITE_"):
            monkeypatch.delenv(key)
    return tmp_path / "data"


def run(argv: list[str], stdin: str = "", monkeypatch: pytest.MonkeyPatch | None = None) -> int:
    assert monkeypatch is not None
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return cli.main(argv)


def test_user_add(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        ["user", "add", "Alice", "--admin", "--password-stdin", "--data-dir", str(data_dir)],
        "s3cret pw\n",
        monkeypatch,
    )
    assert code == cli.EXIT_OK
    assert "created admin 'Alice'" in capsys.readouterr().out
    db = Database(f"sqlite:///{data_dir / 'ferrite.db'}")
    try:
        record = db.read_sync(users.find_by_username, "alice")
    finally:
        db.close()
    assert record is not None
    assert record.is_admin
    passwords = Passwords()
    try:
        assert passwords.verify_sync(record.password_hash, "s3cret pw")  # newline stripped
    finally:
        passwords.close()
    # The same name again is a conflict: exit 1 with a message, no traceback.
    code = run(
        ["user", "add", "alice", "--password-stdin", "--data-dir", str(data_dir)],
        "x-password\n",
        monkeypatch,
    )
    assert code == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "taken" in err
    assert "Traceback" not in err


def test_user_add_refuses_empty_password_and_bad_names(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        run(
            ["user", "add", "bob", "--password-stdin", "--data-dir", str(data_dir)],
            "\n",
            monkeypatch,
        )
        == 1
    )
    assert (
        run(
            ["user", "add", "bad/name", "--password-stdin", "--data-dir", str(data_dir)],
            "pw\n",
            monkeypatch,
        )
        == 1
    )
    # No terminal and no --password-stdin: an error, not a hang.
    assert run(["user", "add", "bob", "--data-dir", str(data_dir)], "", monkeypatch) == 1


def test_usage_errors(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == cli.EXIT_USAGE
    monkeypatch.setenv("FERRITE_PORT", "not a number")
    assert run(["user", "add", "x", "--password-stdin"], "pw\n", monkeypatch) == cli.EXIT_USAGE


def test_demo_generates_a_playable_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ferrite import demo
    from ferrite.library.probe import probe

    # One short clip of each kind keeps this fast; the real list is the same code path.
    monkeypatch.setattr(
        demo,
        "CLIPS",
        (
            demo.DemoClip("Movies/Bars (2019)/Bars (2019).mkv", "smptehdbars", 2, hevc10=True),
            demo.DemoClip(
                "Shows/Auto/Season 01/Auto - S01E01 - One.mp4", "cellauto", 2, subtitles=True
            ),
        ),
    )
    assert cli.main(["demo", str(tmp_path / "lib")]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(tmp_path / "lib" / "Movies"), str(tmp_path / "lib" / "Shows")]
    hevc = probe(tmp_path / "lib/Movies/Bars (2019)/Bars (2019).mkv")
    assert hevc.video is not None
    assert hevc.video.codec == "hevc"
    assert hevc.video.bit_depth == 10
    assert [a.language for a in hevc.audio] == ["eng", "fre"]
    assert [a.channels for a in hevc.audio] == [2, 2]
    assert (tmp_path / "lib/Shows/Auto/Season 01/Auto - S01E01 - One.en.srt").is_file()


def test_scan(
    data_dir: Path,
    library_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run(["scan", str(library_root / "movies"), "--data-dir", str(data_dir)], "", monkeypatch)
    assert code == cli.EXIT_OK
    assert "Added library 'movies'" in capsys.readouterr().out
    assert (
        run(["scan", "/does/not/exist", "--data-dir", str(data_dir)], "", monkeypatch)
        == cli.EXIT_ERROR
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_subprocess(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRITE_")}
    env["FERRITE_WATCH"] = "0"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ferrite.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert r.json() == {"status": "ok"}
        assert (tmp_path / "d" / "secret.key").stat().st_mode & 0o777 == 0o600
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
