"""How urgent a piece of media work is: one value from the request to the slot queue.

A viewer's segment request is made :attr:`Priority.PLAYBACK` by the playback layer, the
HLS layer's own look-ahead :attr:`Priority.PREFETCH`, and the transcode runs and the
admission queue (``ferrite.transcode.admission``) order their work by the same value:
nothing is renumbered on the way down.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Priority"]


class Priority(IntEnum):
    """Lower is more urgent."""

    #: Someone is waiting for this right now: a segment a player asked for (the first
    #: segment of a playback, a seek, a stall, the next segment), a crash restart, a
    #: progressive stream.
    PLAYBACK = 0
    #: Look-ahead a viewer will want soon but isn't waiting for yet (the HLS layer's
    #: prefetch, the warmer's first segments).
    PREFETCH = 1
    #: A paused run catching up with a viewer who is approaching it (it still has a
    #: buffer of ready segments to serve meanwhile).
    BACKGROUND = 2
