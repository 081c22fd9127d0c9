"""What a user gives us — a magnet link, .torrent bytes, peers — turned into libtorrent
``add_torrent_params``, and Ferrite's settings turned into a libtorrent settings pack.

Malformed input raises :class:`ferrite.errors.InvalidTorrent` with libtorrent's reason.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import libtorrent as lt

from ferrite.config import Settings
from ferrite.errors import InvalidTorrent

ALERT_MASK = (
    lt.alert_category.error
    | lt.alert_category.status
    | lt.alert_category.storage
    | lt.alert_category.piece_progress
)
#: Generous: a burst of piece alerts (a fast download, a recheck) must not drop alerts.
#: Dropped ones are still handled (resync), but that costs a full status query.
ALERT_QUEUE_SIZE = 100_000

MAX_TORRENT_BYTES = 20 * 1024 * 1024

#: The source peers the user names are added as: re-adding a peer "from a tracker"
#: takes one off its failure count (src/peer_list.cpp ``update_peer``), so redialling
#: a named peer while a reader waits keeps it a connect candidate however often it was
#: down (``max_failcount`` would otherwise drop it after 3 failed dials).
EXPLICIT_PEER_SOURCE = int(lt.peer_info.tracker)
#: Seconds before a peer is dialled again, times (1 + its failure count). libtorrent's
#: 60 s suits a background download; a viewer waiting for a piece can't wait that long
#: for a peer that restarted or a connection the stall watchdog dropped.
RECONNECT_S = 2


def session_settings(
    settings: Settings,
    *,
    listen_hosts: Sequence[str] | None,
    alert_queue_size: int = ALERT_QUEUE_SIZE,
) -> lt.settings_pack:
    """The libtorrent settings pack for Ferrite's ``torrent_*`` settings.

    ``listen_hosts`` restricts listening to those addresses (``("127.0.0.1",)`` keeps the
    engine off every network); the default listens on all IPv4 and IPv6 addresses. Port
    0 lets the OS pick one (read it back from ``TorrentEngine.listen_port``).
    """
    port = settings.torrent_listen_port
    hosts = tuple(listen_hosts) if listen_hosts else ("0.0.0.0", "[::]")
    interfaces = ",".join(
        f"[{h}]:{port}" if ":" in h and not h.startswith("[") else f"{h}:{port}" for h in hosts
    )
    pack: lt.settings_pack = {
        "listen_interfaces": interfaces,
        "enable_dht": settings.torrent_dht,
        "enable_lsd": settings.torrent_lsd,
        "enable_upnp": settings.torrent_upnp,
        "enable_natpmp": settings.torrent_upnp,
        # libtorrent dials every peer over uTP first (torrent_peer assumes support). uTP's
        # LEDBAT congestion control yields to other traffic by design -- wrong for a
        # stream someone is watching -- and libtorrent's uTP stalls now and then on
        # loopback/LAN links (seen in our tests: a connection up, unchoked, 98 requests
        # queued, no payload for 30 s). TCP first; peers that dial us over uTP are fine.
        "enable_outgoing_utp": settings.torrent_outgoing_utp,
        "download_rate_limit": max(0, settings.torrent_download_limit),
        "upload_rate_limit": max(0, settings.torrent_upload_limit),
        "connections_limit": max(1, settings.torrent_connections_limit),
        "alert_mask": int(ALERT_MASK),
        "alert_queue_size": alert_queue_size,
        # Streaming: libtorrent requests a piece by its deadline only while the peer's
        # queue of requests is under 2 s deep (docs/streaming.rst); at the default 3 s of
        # pipelining a piece a reader waits for queues behind rarest-first blocks. 1 s
        # keeps deadlines effective (measured: first segment ~7 s -> ~4 s from a 2 MB/s
        # seeder, docs/benchmarks.md "Torrent streaming").
        "request_queue_time": 1,
        "min_reconnect_time": RECONNECT_S,
        # One peer entry per ip:port, not per IP. Trackers list a client to itself
        # (bittorrent-tracker does); dialling itself, libtorrent bans that peer entry
        # for the torrent's lifetime (peer_connection.cpp, "don't try to connect to
        # ourself again"). With one entry per IP that ban also hits every other peer on
        # the same address -- a seeder on this host, behind the same NAT, or on
        # 127.0.0.1 -- and connect_peer can never lift it: the torrent stays at 0 peers
        # and 0 connect candidates (issue #15: .torrent uploads with a tracker).
        "allow_multiple_connections_per_ip": True,
        # A torrent whose wanted pieces are all in is "finished" -- during the start-up
        # hold (scheduler.py) that is just the head and tail -- and libtorrent would then
        # drop its connections to seeds, the very peers the next deadline needs.
        "close_redundant_connections": False,
        "user_agent": f"Ferrite libtorrent/{lt.__version__}",
    }
    if not settings.torrent_dht:
        pack["dht_bootstrap_nodes"] = ""  # not even a lookup of the bootstrap routers
    if port:
        pack["max_retry_port_bind"] = 0  # an explicit port is a promise, not a hint
    return pack


def prepare_params(params: Any, save_path: str) -> None:
    """How every torrent is added: into ``save_path``, always active (auto-management
    would queue a stream behind others), rarest-first (sequential order starves the
    swarm)."""
    params.save_path = save_path
    params.flags &= ~(
        lt.torrent_flags.auto_managed
        | lt.torrent_flags.paused
        | lt.torrent_flags.sequential_download
    )


def torrent_name(params: Any, info_hash: str) -> str:
    """The name to show: the magnet's ``dn``, the .torrent's name, else the info hash."""
    return str(params.name or (params.ti.name() if params.ti is not None else "") or info_hash)


def ip_filter(allowed: Sequence[tuple[str, str]]) -> Any:
    """A libtorrent IP filter that blocks every peer outside the ``allowed`` ranges."""
    f = lt.ip_filter()
    f.add_rule("0.0.0.0", "255.255.255.255", 1)
    f.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1)
    for first, last in allowed:
        f.add_rule(first, last, 0)
    return f


def parse_peers(peers: Sequence[str]) -> list[tuple[str, int]]:
    """``["host:port", "[v6]:port"]`` -> endpoints; anything else is InvalidTorrent."""
    out = []
    for peer in peers:
        text = peer.strip()
        host, sep, port_text = text.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            if not sep or not host:
                raise ValueError("missing host or port")
            port = int(port_text)
            if not 0 < port < 65536:
                raise ValueError("port out of range")
            ipaddress.ip_address(host)  # libtorrent connects to addresses, not names
        except ValueError as exc:
            raise InvalidTorrent(f"peer {peer!r} is not an ip:port address ({exc})") from exc
        out.append((host, port))
    return out


def parse_magnet(uri: str) -> Any:
    """``add_torrent_params`` of a magnet link (without metadata until peers send it)."""
    text = uri.strip()
    if not text.lower().startswith("magnet:?"):
        raise InvalidTorrent("not a magnet link (it must start with 'magnet:?')")
    try:
        return lt.parse_magnet_uri(text)
    except RuntimeError as exc:
        raise InvalidTorrent(f"invalid magnet link: {_reason(exc)}") from exc


def parse_torrent_file(data: bytes) -> Any:
    """``add_torrent_params`` of a .torrent file's bytes."""
    if not data:
        raise InvalidTorrent("the .torrent file is empty")
    if len(data) > MAX_TORRENT_BYTES:
        raise InvalidTorrent(f"the .torrent file is larger than {MAX_TORRENT_BYTES} bytes")
    try:
        params = lt.load_torrent_buffer(data)
    except RuntimeError as exc:
        raise InvalidTorrent(f"invalid .torrent file: {_reason(exc)}") from exc
    if params.ti is None or params.ti.num_pieces() == 0:
        raise InvalidTorrent("invalid .torrent file: it holds no data")
    return params


def info_hash_of(hashes: Any) -> str:
    """The stable key of a torrent: the v1 hash in hex, or the v2 hash for v2-only ones."""
    return str(hashes.v1) if hashes.has_v1() else str(hashes.v2)


def _reason(exc: RuntimeError) -> str:
    # libtorrent messages end with "[category:code]"; users need only the words.
    return str(exc).rsplit(" [", 1)[0]
