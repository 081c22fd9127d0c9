"""The torrent engine's alert thread: the only consumer of libtorrent alerts.

    AlertPump.run (thread "torrent-alerts")
    wait_for_alert -> pop_alerts -> per-alert bookkeeping (piece board, scheduler)
    -> one loop.call_soon_threadsafe per batch for async waiters, subscribers, DB;
    at most once a second, housekeeping: a status snapshot, the stall watchdog
    (``watchdog.py``: redial named peers, reconnect silent ones while readers wait) and
    resume data of torrents that changed.

The helpers below (``connect``, ``sync_torrent``, ...) are also used by the engine on the
loop or in worker threads: each is one libtorrent call (or a few) on one torrent, and
none raises for a handle gone stale.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import libtorrent as lt

from ferrite.errors import InvalidTorrent
from ferrite.torrent import source as src
from ferrite.torrent.records import TorrentEvent
from ferrite.torrent.torrent import ManagedTorrent
from ferrite.torrent.watchdog import Action

if TYPE_CHECKING:
    from ferrite.torrent.engine import TorrentEngine

log = logging.getLogger(__name__)

TICK_S = 1.0  # housekeeping period of the alert thread


class AlertPump:
    """Runs in the engine's alert thread until ``engine._stop`` is set."""

    def __init__(self, engine: TorrentEngine) -> None:
        self.engine = engine

    # == the alert thread ====================================================
    def run(self) -> None:
        e = self.engine
        ses = e._session
        next_tick = 0.0
        last_resume = time.monotonic()
        while not e._stop.is_set():
            try:
                ses.wait_for_alert(int(TICK_S * 1000))
                alerts = ses.pop_alerts()
            except RuntimeError:  # pragma: no cover - session torn down under us
                log.exception("torrent alert loop failed")
                return
            calls: list[Callable[[], None]] = []
            failed = False
            for alert in alerts:
                try:
                    self._on_alert(alert, calls)
                except Exception:
                    log.exception("handling %s failed", type(alert).__name__)
                    failed = True
            if failed:  # whatever that alert meant, libtorrent's own state is the truth
                self._resync_all(calls)
            now = time.monotonic()
            if now >= next_tick and not e._stop.is_set():
                next_tick = now + TICK_S
                try:
                    self._housekeeping(now, now - last_resume >= e._resume_interval)
                except Exception:  # the alert thread must outlive any one torrent's trouble
                    log.exception("torrent housekeeping failed")
                if now - last_resume >= e._resume_interval:
                    last_resume = now
            if calls:
                e.events.to_loop(calls)

    def _on_alert(self, a: Any, calls: list[Callable[[], None]]) -> None:
        e = self.engine
        kind = type(a)
        if kind is lt.state_update_alert:
            for st in a.status:
                t = e._by_handle.get(st.handle)
                if t is not None:
                    snapshot(t, st)
            return
        if kind is lt.alerts_dropped_alert:
            e.alerts_dropped += 1
            log.warning("libtorrent dropped alerts; resynchronising piece state")
            self._resync_all(calls)
            return
        if kind in (lt.listen_failed_alert,):
            e.listen_errors.append(a.message())
            log.warning("torrent listen failed: %s", a.message())
            return
        if kind in (
            lt.torrent_removed_alert,
            lt.torrent_deleted_alert,
            lt.torrent_delete_failed_alert,
        ):
            info_hash = src.info_hash_of(a.info_hashes)
            removal = e._removals.get(info_hash)
            if kind is lt.torrent_removed_alert and removal is not None and removal[1]:
                return  # the files are being deleted: wait for that to finish
            calls.append(functools.partial(e._removal_done, info_hash))
            return
        if kind not in _TORRENT_ALERTS:
            return
        t = e._by_handle.get(a.handle)
        if t is None:  # removed (or not registered yet: _start_torrent catches up)
            return
        if kind is lt.piece_finished_alert:
            piece = int(a.piece_index)
            t.piece_done(piece)
            calls.append(functools.partial(e._piece_arrived, t, piece))
        elif kind is lt.read_piece_alert:
            failed = a.error.value() != 0
            t.board.deliver(
                int(a.piece), None if failed else a.buffer, a.error.message() if failed else None
            )
        elif kind is lt.hash_failed_alert:
            t.hash_failures += 1
            calls.append(e.events.event_call(TorrentEvent("hash_failed", t.id, int(a.piece_index))))
        elif kind is lt.metadata_received_alert:
            if t.set_metadata(a.handle.torrent_file()):
                sync_pieces(t)
                calls.append(functools.partial(e._metadata_arrived, t))
        elif kind is lt.torrent_checked_alert:
            calls.extend(functools.partial(t.wake_async, p) for p in sync_pieces(t))
        elif kind is lt.state_changed_alert:
            t.state = str(a.state)
            calls.append(e.events.event_call(TorrentEvent("state", t.id, detail=t.state)))
        elif kind is lt.torrent_finished_alert:
            save_resume(t)
            calls.append(e.events.event_call(TorrentEvent("finished", t.id)))
        elif kind in (lt.torrent_error_alert, lt.file_error_alert):
            t.error = a.message()
            calls.append(e.events.event_call(TorrentEvent("error", t.id, detail=t.error)))
        elif kind is lt.save_resume_data_alert:
            data = lt.write_resume_data_buf(a.params)
            calls.append(functools.partial(e._store_resume, t.id, data))
        elif kind is lt.save_resume_data_failed_alert:
            calls.append(functools.partial(e._resume_saved, t.id))

    def _housekeeping(self, now: float, save_resumes: bool) -> None:
        e = self.engine
        torrents = e._all()
        if torrents:
            e._session.post_torrent_updates()  # -> state_update_alert -> _snapshot
        for t in torrents:
            if t.failure is not None:
                continue
            action = t.watch.observe(
                now,
                waiting=t.waiting(),
                peers=t.num_peers,
                payload=t.payload_total,
                can_redial=bool(t.peers),
                reading=bool(t.readers()),
            )
            if action is Action.REDIAL:
                with contextlib.suppress(InvalidTorrent):
                    connect(t, src.parse_peers(t.peers))
            elif action is Action.RECONNECT:
                self._reconnect(t)
            if t.scheduler.holding and t.hold_over(now):
                t.scheduler.release_hold()
            if save_resumes and t.resume_dirty:
                save_resume(t)

    def _resync_all(self, calls: list[Callable[[], None]]) -> None:
        """Re-read every torrent's pieces, wake their waiters, re-ask for piece reads."""
        e = self.engine
        for t in e._all():
            new = sync_pieces(t)
            t.board.refetch()
            calls.extend(functools.partial(e._piece_arrived, t, p) for p in new)

    def _reconnect(self, t: ManagedTorrent) -> None:
        """Alert thread: peers are connected but nothing arrives while a reader waits.
        Drop every connection (pausing does; libtorrent keeps its peer list), dial
        again, and restate the readers' deadlines."""
        log.warning(
            "torrent %s: no data for %.0f s while a reader waits; reconnecting (%s)",
            t.id,
            t.watch.quiet_s,
            t.diagnosis(),
        )
        try:
            t.handle.pause()
            t.handle.resume()
        except RuntimeError:  # removed meanwhile
            return
        with contextlib.suppress(InvalidTorrent):
            connect(t, src.parse_peers(t.peers))
        t.scheduler.reapply()


def snapshot(t: ManagedTorrent, st: Any) -> None:
    t.state = str(st.state)
    t.download_rate = int(st.download_payload_rate)
    t.upload_rate = int(st.upload_payload_rate)
    t.num_peers = int(st.num_peers)
    t.num_seeds = int(st.num_seeds)
    t.payload_total = int(st.total_payload_download)
    if st.errc.value():
        t.error = st.errc.message()


def sync_torrent(t: ManagedTorrent) -> bool:
    """Worker/alert thread: pick up metadata and pieces libtorrent already has."""
    try:
        st = t.handle.status()
        changed = bool(st.has_metadata) and t.set_metadata(t.handle.torrent_file())
        snapshot(t, st)
    except RuntimeError:
        return False
    sync_pieces(t)
    return changed


def sync_pieces(t: ManagedTorrent) -> list[int]:
    if not t.has_metadata or t.failure is not None:
        return []
    try:
        have = t.handle.status(lt.torrent_handle.query_pieces).pieces
    except RuntimeError:
        return []
    return t.resync(list(have))


def save_resume(t: ManagedTorrent) -> None:
    t.resume_dirty = False
    try:
        t.handle.save_resume_data(lt.torrent_handle.save_info_dict)
    except RuntimeError as exc:
        log.debug("save_resume_data of torrent %s failed: %s", t.id, exc)


def connect(t: ManagedTorrent, endpoints: Sequence[tuple[str, int]]) -> None:
    for endpoint in endpoints:
        try:
            t.handle.connect_peer(endpoint, src.EXPLICIT_PEER_SOURCE)
        except RuntimeError as exc:
            log.debug("connect_peer %s for torrent %s failed: %s", endpoint, t.id, exc)


_TORRENT_ALERTS = frozenset(
    {
        lt.piece_finished_alert,
        lt.read_piece_alert,
        lt.hash_failed_alert,
        lt.metadata_received_alert,
        lt.torrent_checked_alert,
        lt.state_changed_alert,
        lt.torrent_finished_alert,
        lt.torrent_error_alert,
        lt.file_error_alert,
        lt.save_resume_data_alert,
        lt.save_resume_data_failed_alert,
    }
)
