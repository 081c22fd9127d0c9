"""A node's link to the cluster: one Redis client and what runs on it.

Built by :meth:`ferrite.services.Services.start` when ``redis_url`` is set; on a single
node (the default) there is no link and nothing here runs.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from redis.asyncio import Redis

from ferrite.auth.service import AuthService
from ferrite.cluster.fanout import AuthFanout
from ferrite.cluster.leases import RedisLeases
from ferrite.cluster.sessions import RedisSessions
from ferrite.cluster.signing import internal_key
from ferrite.cluster.workers import WorkerRegistry
from ferrite.config import Settings

#: Fail fast when Redis is away: a request never hangs on it.
_CONNECT_TIMEOUT_S = 0.5
_SOCKET_TIMEOUT_S = 10.0  # above the pub/sub read's own 5 s wait


def node_name(settings: Settings) -> str:
    return settings.node_name or f"{socket.gethostname()}:{settings.port}"


@dataclass
class ClusterLink:
    node: str
    redis: Redis
    fanout: AuthFanout
    sessions: RedisSessions  # the shared playback-session registry
    leases: RedisLeases  # one production per transcode run key, cluster-wide
    #: The live transcode workers (``role=worker`` nodes register there).
    workers: WorkerRegistry
    #: Signs and checks node-to-node ``/internal/`` requests (cluster/signing.py).
    internal_key: bytes

    @classmethod
    def start(cls, settings: Settings, auth: AuthService, secret: bytes) -> ClusterLink:
        node = node_name(settings)
        redis = Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=_CONNECT_TIMEOUT_S,
            socket_timeout=_SOCKET_TIMEOUT_S,
        )
        fanout = AuthFanout(redis, node=node, refresh=auth.refresh_user, reload=auth.reload)
        auth.listen_change(fanout.announce)
        fanout.start()
        sessions = RedisSessions(redis, node=node, connected=lambda: fanout.connected)
        return cls(
            node,
            redis,
            fanout,
            sessions,
            RedisLeases(redis, node=node),
            WorkerRegistry(redis),
            internal_key(secret),
        )

    @property
    def connected(self) -> bool:
        return self.fanout.connected

    async def aclose(self) -> None:
        await self.sessions.aclose()
        await self.fanout.aclose()
        await self.redis.aclose()
