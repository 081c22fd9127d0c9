"""Ferrite's error tree.

Every error a user can meet is a ``FerriteError`` with an HTTP ``status`` and a stable
machine ``code``; the API renders all of them through one JSON envelope
``{"error": {"code", "message", "status"}}``. Errors from libraries below us (PyAV,
subprocess, SQLAlchemy, libtorrent) are translated at the boundary with
``raise FerriteError(...) from exc`` so callers never see foreign exception types.

    FerriteError (500 internal_error)
    ├── BadRequest (400 bad_request)
    │   ├── InvalidRange (416 range_not_satisfiable)
    │   └── InvalidTorrent (400 invalid_torrent)
    ├── Unauthorized (401 unauthorized)
    │   ├── InvalidCredentials (401 invalid_credentials)
    │   ├── TokenExpired (401 token_expired)
    │   └── TokenInvalid (401 token_invalid)
    ├── Forbidden (403 forbidden)
    ├── NotFound (404 not_found)
    ├── Conflict (409 conflict)
    │   └── MediaChanged (409 media_changed)   file replaced/deleted after scanning
    ├── Unprocessable (422 unprocessable)
    │   └── NoPlayableMethod (422 no_playable_method)
    ├── TooManyRequests (429 too_many_requests)
    ├── MediaError (500 media_error)          a file PyAV/ffmpeg cannot read
    │   └── ProbeError (500 probe_failed)
    ├── TranscodeError (500 transcode_failed)
    ├── StorageError (500 storage_error)      database failures
    ├── TorrentError (500 torrent_error)
    ├── Timeout (504 timeout)                  e.g. torrent data that never arrived
    └── Overloaded (503 overloaded)            carries retry_after seconds
        └── ClusterUnavailable (503 cluster_unavailable)  Redis away: no new sessions/logins

``message`` is for the user and goes into the response; ``detail`` (optional) is for the
server's log only -- ffmpeg's stderr, paths, the loopback feed's URL never reach a client.
"""

from __future__ import annotations

from typing import ClassVar


class FerriteError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self, message: str | None = None, *, code: str | None = None, detail: str | None = None
    ) -> None:
        self.message = message or self.__class__.__doc__ or self.code
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance override of the class default
        super().__init__(self.message)

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "status": self.status}


class BadRequest(FerriteError):
    """The request is malformed."""

    status = 400
    code = "bad_request"


class InvalidRange(BadRequest):
    """The requested byte range cannot be satisfied."""

    status = 416
    code = "range_not_satisfiable"

    def __init__(self, message: str | None = None, *, size: int) -> None:
        super().__init__(message)
        self.size = size


class InvalidTorrent(BadRequest):
    """The magnet link or .torrent file is not valid."""

    code = "invalid_torrent"


class Unauthorized(FerriteError):
    """Authentication is required."""

    status = 401
    code = "unauthorized"


class InvalidCredentials(Unauthorized):
    """Wrong username or password."""

    code = "invalid_credentials"


class TokenExpired(Unauthorized):
    """The token has expired; log in again."""

    code = "token_expired"


class TokenInvalid(Unauthorized):
    """The token is malformed, forged or revoked."""

    code = "token_invalid"


class Forbidden(FerriteError):
    """You are not allowed to do this."""

    status = 403
    code = "forbidden"


class NotFound(FerriteError):
    """No such resource."""

    status = 404
    code = "not_found"


class Conflict(FerriteError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class MediaChanged(Conflict):
    """The media file changed or vanished since it was scanned; rescan the library."""

    code = "media_changed"


class Unprocessable(FerriteError):
    """The request is well-formed but cannot be carried out."""

    status = 422
    code = "unprocessable"


class NoPlayableMethod(Unprocessable):
    """No way to play this item on this device."""

    code = "no_playable_method"


class TooManyRequests(FerriteError):
    """Too many attempts; wait and try again."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str | None = None, *, retry_after: float = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MediaError(FerriteError):
    """The media file cannot be read."""

    status = 500
    code = "media_error"


class ProbeError(MediaError):
    """The file could not be probed as media."""

    code = "probe_failed"


class TranscodeError(FerriteError):
    """The transcoder failed."""

    code = "transcode_failed"


class StorageError(FerriteError):
    """The database failed."""

    code = "storage_error"


class TorrentError(FerriteError):
    """The torrent engine failed."""

    code = "torrent_error"


class Timeout(FerriteError):
    """The operation timed out."""

    status = 504
    code = "timeout"


class Overloaded(FerriteError):
    """The server is busy; retry shortly."""

    status = 503
    code = "overloaded"

    def __init__(self, message: str | None = None, *, retry_after: float = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ClusterUnavailable(Overloaded):
    """This node has lost its link to the cluster (Redis); retry shortly."""

    code = "cluster_unavailable"

    def __init__(
        self, message: str | None = None, *, retry_after: float = 2, detail: str | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.detail = detail
