// A playback session (POST /api/playback): its decision, heartbeat, telemetry and stop.
//
// Events and stop are authorised by the stream token in the session's URL (`?token=`),
// not by the user's bearer token: they must work from `pagehide`, where only
// `fetch(..., {keepalive: true})` and `navigator.sendBeacon` still get requests out.

import { api } from '../api.js';

export const HEARTBEAT_MS = 10_000;

/** The `token` query parameter of a playback URL (HLS master playlist or file URL). */
export function streamToken(url) {
  return new URL(url, location.href).searchParams.get('token');
}

export class PlaybackSession {
  /** Create a session: body is {item_id, device, start_s, audio_stream?, ...}. */
  static async create(body, signal) {
    return new PlaybackSession(await api('/api/playback', { method: 'POST', body, signal }));
  }

  constructor(decision) {
    this.id = decision.session_id;
    this.method = decision.method;
    this.reasons = decision.reasons ?? [];
    this.renditions = decision.renditions ?? null; // HLS: {video, audio, subtitles}
    this.url = decision.url;
    this.expiresAt = decision.expires_at;
    this.token = decision.token ?? streamToken(decision.url);
    this.closed = false;
    this.timer = 0;
    this.onGone = null; // called when the server no longer knows the session (404/401)
  }

  get base() { return `/api/playback/${encodeURIComponent(this.id)}`; }
  get eventsUrl() { return `${this.base}/events?token=${encodeURIComponent(this.token ?? '')}`; }
  get stopUrl() { return `${this.base}?token=${encodeURIComponent(this.token ?? '')}`; }

  /** POST one telemetry/heartbeat event; resolves to the HTTP status (0: network error). */
  async send(event, { keepalive = false } = {}) {
    if (this.closed) return 0;
    try {
      const res = await fetch(this.eventsUrl, {
        method: 'POST', keepalive, headers: { 'content-type': 'application/json' }, body: JSON.stringify(event),
      });
      if ((res.status === 404 || res.status === 401 || res.status === 410) && !this.closed) this.onGone?.(res.status);
      return res.status;
    } catch {
      return 0;
    }
  }

  /** Report the position every HEARTBEAT_MS (the server's heartbeat and progress). */
  startHeartbeat(position) {
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      const p = position();
      if (p !== null) this.send({ type: 'position', position_s: round(p) });
    }, HEARTBEAT_MS);
  }

  /** Leaving the player inside the app: final position, then DELETE. */
  async stop(positionS) {
    if (this.closed) return;
    clearInterval(this.timer);
    if (positionS !== null && positionS !== undefined) await this.send({ type: 'position', position_s: round(positionS) });
    this.closed = true;
    try {
      await fetch(this.stopUrl, { method: 'DELETE', keepalive: true });
    } catch { /* the server reaps idle sessions anyway */ }
  }

  /**
   * The page is going away (tab closed, reload, navigation): one request that records the
   * final position and ends the session, `POST events {type: "stop", position_s}` (the
   * server stores the position before it ends the session), sent with fetch keepalive, or
   * sendBeacon where keepalive fetch is unavailable. sendBeacon can only POST, which is
   * why stop is an event here rather than a DELETE; and it is one request because two
   * sent while a page unloads may arrive in either order.
   */
  stopOnUnload(positionS) {
    if (this.closed) return;
    clearInterval(this.timer);
    this.closed = true;
    const body = JSON.stringify({ type: 'stop', position_s: round(positionS ?? 0) });
    try {
      fetch(this.eventsUrl, { method: 'POST', keepalive: true, headers: { 'content-type': 'application/json' }, body });
    } catch {
      navigator.sendBeacon?.(this.eventsUrl, new Blob([body], { type: 'application/json' }));
    }
  }
}

const round = (s) => Math.round(s * 1000) / 1000;
