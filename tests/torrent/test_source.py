"""Settings -> libtorrent settings pack; magnets, .torrent bytes and peers -> params."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrite.config import load
from ferrite.errors import InvalidTorrent
from ferrite.torrent.source import (
    ALERT_QUEUE_SIZE,
    info_hash_of,
    ip_filter,
    parse_magnet,
    parse_peers,
    parse_torrent_file,
    session_settings,
)


def test_settings_pack_follows_ferrite_settings(tmp_path: Path) -> None:
    settings = load(
        {
            "data_dir": tmp_path,
            "torrent_listen_port": 0,
            "torrent_dht": False,
            "torrent_lsd": False,
            "torrent_upnp": False,
            "torrent_download_limit": 5_000_000,
            "torrent_upload_limit": 1_000_000,
            "torrent_connections_limit": 50,
        },
        environ={},
    )
    pack = session_settings(settings, listen_hosts=["127.0.0.1", "::1"])
    assert pack["listen_interfaces"] == "127.0.0.1:0,[::1]:0"
    assert pack["enable_dht"] is False
    assert pack["dht_bootstrap_nodes"] == ""
    assert pack["enable_lsd"] is False
    assert pack["enable_upnp"] is False
    assert pack["enable_natpmp"] is False
    assert pack["download_rate_limit"] == 5_000_000
    assert pack["upload_rate_limit"] == 1_000_000
    assert pack["connections_limit"] == 50
    assert pack["alert_queue_size"] == ALERT_QUEUE_SIZE
    assert "max_retry_port_bind" not in pack  # port 0: any port will do


def test_defaults_listen_everywhere_on_the_configured_port(tmp_path: Path) -> None:
    pack = session_settings(load({"data_dir": tmp_path}, environ={}), listen_hosts=None)
    assert pack["listen_interfaces"] == "0.0.0.0:6881,[::]:6881"
    assert pack["enable_dht"] is True
    # Opening router ports is the user's decision, not a default (issue 14).
    assert pack["enable_upnp"] is False
    assert pack["enable_natpmp"] is False
    assert pack["max_retry_port_bind"] == 0
    # Streaming defaults: TCP first, quick redials of a peer that went away.
    assert pack["enable_outgoing_utp"] is False
    assert pack["min_reconnect_time"] <= 5
    on = session_settings(
        load({"data_dir": tmp_path, "torrent_outgoing_utp": True}, environ={}), listen_hosts=None
    )
    assert on["enable_outgoing_utp"] is True


def test_peers_are_ip_and_port() -> None:
    assert parse_peers(["127.0.0.1:6881", " [::1]:51413 "]) == [
        ("127.0.0.1", 6881),
        ("::1", 51413),
    ]
    for bad in ["localhost:6881", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":80", ""]:
        with pytest.raises(InvalidTorrent, match="peer"):
            parse_peers([bad])


def test_magnet_links() -> None:
    params = parse_magnet(
        "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=Name&x.pe=127.0.0.1:6881"
    )
    assert info_hash_of(params.info_hashes) == "0123456789abcdef0123456789abcdef01234567"
    assert params.name == "Name"
    assert params.peers == [("127.0.0.1", 6881)]
    base32 = parse_magnet("magnet:?xt=urn:btih:ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert len(info_hash_of(base32.info_hashes)) == 40
    for bad, reason in [
        ("", "must start"),
        ("magnet:?dn=x", "missing info-hash"),
        ("magnet:?xt=urn:btih:123", "invalid info-hash"),
    ]:
        with pytest.raises(InvalidTorrent, match=reason) as info:
            parse_magnet(bad)
        assert "[libtorrent" not in str(info.value)  # the reason, not the error category


def test_torrent_files(movie_torrent: bytes) -> None:
    params = parse_torrent_file(movie_torrent)
    assert params.ti.num_pieces() > 0
    assert len(info_hash_of(params.info_hashes)) == 40  # hybrid: the v1 hash is the key
    for bad, reason in [
        (b"", "empty"),
        (b"i42e", "not a dictionary"),
        (b"d4:infod6:lengthi0e4:name1:x12:piece lengthi16384e6:pieces0:ee", "length"),
        (movie_torrent[:-10], "bencoded|info"),
    ]:
        with pytest.raises(InvalidTorrent, match=reason):
            parse_torrent_file(bad)


def test_ip_filter_allows_only_the_given_ranges() -> None:
    f = ip_filter([("127.0.0.0", "127.255.255.255")])
    assert f.access("127.0.0.2") == 0
    assert f.access("10.0.0.1") == 1
    assert f.access("2001:db8::1") == 1
