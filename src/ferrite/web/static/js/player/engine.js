// How a decision's URL gets into the <video>: hls.js on MSE browsers, the browser's own
// HLS on Safari/iOS, or a plain `src` for direct play. Each engine exposes the same
// small surface for the menus: audio tracks, subtitle tracks, quality levels.

const HLS_MIME = 'application/vnd.apple.mpegurl';

export function canPlayHlsNatively(video) {
  return video.canPlayType(HLS_MIME) !== '';
}

function isSafari() {
  const ua = navigator.userAgent;
  return /Safari\//.test(ua) && !/Chrome\/|Chromium\/|Android|Edg\//.test(ua);
}

function isAppleMobile() {
  return /iPhone|iPad|iPod/.test(navigator.userAgent) || (navigator.platform === 'MacIntel' && navigator.maxTouchPoints > 1);
}

/** Native HLS on Safari (macOS and iOS: AirPlay, picture in picture, power) and wherever MSE is missing. */
export function prefersNativeHls(video) {
  if (!canPlayHlsNatively(video)) return false;
  const mse = 'MediaSource' in window || 'ManagedMediaSource' in window;
  return !mse || isSafari();
}

/** The device profile name sent with POST /api/playback. */
export function deviceProfile(nativeHls) {
  if (nativeHls) return isAppleMobile() ? 'ios' : 'safari';
  if (/Firefox\//.test(navigator.userAgent)) return 'firefox';
  return 'chrome';
}

let hlsModule = null;
/** hls.js, loaded on first use (it is ~600 kB; the rest of the app never needs it). */
export async function loadHls() {
  hlsModule ??= import('../../vendor/hls.mjs').then((m) => m.default).catch((err) => {
    hlsModule = null;
    throw new Error(`The HLS player (hls.js) is missing on the server: run scripts/web-assets. (${err.message})`);
  });
  return hlsModule;
}

class Emitter {
  constructor() { this.handlers = new Set(); }
  onchange(fn) { this.handlers.add(fn); }
  changed() { for (const fn of this.handlers) fn(); }
}

/** Wait for `loadedmetadata`, then seek to `start` (direct play and native HLS). */
function whenReady(video, start, signal) {
  return new Promise((resolve, reject) => {
    const done = () => {
      cleanup();
      if (start > 0 && Math.abs(video.currentTime - start) > 0.5) video.currentTime = start;
      resolve();
    };
    const fail = () => { cleanup(); reject(new Error(video.error?.message || 'The media could not be loaded.')); };
    const cleanup = () => { video.removeEventListener('loadedmetadata', done); video.removeEventListener('error', fail); };
    video.addEventListener('loadedmetadata', done);
    video.addEventListener('error', fail);
    signal?.addEventListener('abort', () => { cleanup(); resolve(); });
    if (video.readyState >= 1) done();
  });
}

/** Direct play: the original file with HTTP Range. Track choices need a new session. */
export class DirectEngine extends Emitter {
  kind = 'direct';
  async attach(video, url, start, signal) {
    this.video = video;
    video.src = url;
    await whenReady(video, start, signal);
  }
  audioTracks() { return []; }
  subtitleTracks() { return []; }
  levels() { return []; }
  destroy() {}
}

/** Safari / iOS: the browser plays the HLS master playlist itself. */
export class NativeEngine extends Emitter {
  kind = 'native';
  async attach(video, url, start, signal) {
    this.video = video;
    const fire = () => this.changed();
    this.unlisten = [];
    for (const list of [video.audioTracks, video.textTracks].filter(Boolean)) {
      for (const type of ['addtrack', 'removetrack', 'change']) {
        list.addEventListener(type, fire);
        this.unlisten.push(() => list.removeEventListener(type, fire));
      }
    }
    video.src = url;
    await whenReady(video, start, signal);
  }
  audioTracks() {
    const list = this.video.audioTracks;
    if (!list) return [];
    return Array.from(list, (t, i) => ({ id: i, label: t.label || t.language || `Track ${i + 1}`, lang: t.language, active: t.enabled }));
  }
  setAudio(id) {
    const list = this.video.audioTracks;
    for (let i = 0; i < list.length; i += 1) list[i].enabled = i === id;
  }
  subtitleTracks() {
    return Array.from(this.video.textTracks, (t, i) => ({ id: i, label: t.label || t.language || `Subtitles ${i + 1}`, lang: t.language, active: t.mode === 'showing', kind: t.kind }))
      .filter((t) => t.kind === 'subtitles' || t.kind === 'captions');
  }
  setSubtitle(id) {
    Array.from(this.video.textTracks).forEach((t, i) => { t.mode = i === id ? 'showing' : 'disabled'; });
    this.changed();
  }
  levels() { return []; }
  destroy() { for (const off of this.unlisten ?? []) off(); }
}

/** hls.js over Media Source Extensions. */
export class HlsJsEngine extends Emitter {
  kind = 'hls.js';
  constructor(Hls, { onFatal, subtitle = null, startVideo = null } = {}) {
    super();
    this.Hls = Hls;
    this.onFatal = onFatal;
    this.subtitle = subtitle; // hls.js SubtitleSelectionOption ({name, forced}) or null
    this.startVideo = startVideo; // the server's id of the video rendition to start on
    this.mediaRecoveries = 0;
    this.networkRetries = 0;
  }

  async attach(video, url, start, signal) {
    const Hls = this.Hls;
    this.video = video;
    this.hls = new Hls({
      startPosition: start > 0 ? start : -1,
      // Keep 30 s behind the playhead (instant short rewinds) and buffer 30-120 s ahead:
      // enough to ride out a slow segment without holding a whole film in memory.
      backBufferLength: 30,
      maxBufferLength: 30,
      maxMaxBufferLength: 120,
      maxBufferSize: 120 * 1000 * 1000,
      enableWorker: true,
      // Loading starts once the start level is chosen (MANIFEST_PARSED below).
      autoStartLoad: false,
      workerPath: new URL('../../vendor/hls.worker.js', import.meta.url).href,
      startFragPrefetch: true,
      capLevelToPlayerSize: false,
      subtitleDisplay: true,
      renderTextTracksNatively: true,
      // The track to show from the start: hls.js selects it when it lists the tracks.
      ...(this.subtitle ? { subtitlePreference: this.subtitle } : {}),
    });
    const E = Hls.Events;
    const fire = () => this.changed();
    for (const ev of [E.MANIFEST_PARSED, E.LEVEL_SWITCHED, E.AUDIO_TRACKS_UPDATED, E.AUDIO_TRACK_SWITCHED, E.SUBTITLE_TRACKS_UPDATED, E.SUBTITLE_TRACK_SWITCH]) {
      this.hls.on(ev, fire);
    }
    this.hls.on(E.FRAG_LOADED, () => { this.networkRetries = 0; });
    this.hls.on(E.ERROR, (_event, data) => this.onError(data));
    this.hls.once(E.MANIFEST_PARSED, () => {
      const first = this.levelOf(this.startVideo);
      if (first >= 0) this.hls.startLevel = first;
      this.hls.startLoad(start > 0 ? start : -1);
    });
    const parsed = new Promise((resolve, reject) => {
      this.hls.once(E.MANIFEST_PARSED, resolve);
      this.rejectAttach = reject;
      signal?.addEventListener('abort', resolve);
    });
    this.hls.loadSource(url);
    this.hls.attachMedia(video);
    await parsed;
    this.rejectAttach = null;
  }

  /** The hls.js level index of the server's video rendition `id` (its playlist is
   * `v/<id>.m3u8`), or -1. */
  levelOf(id) {
    if (!id || !this.hls) return -1;
    const tail = `/v/${encodeURIComponent(id)}.m3u8`;
    return this.hls.levels.findIndex((l) => new URL(l.uri, location.href).pathname.endsWith(tail));
  }

  onError(data) {
    if (!data.fatal) return;
    const { ErrorTypes } = this.Hls;
    const status = data.response?.code ?? data.networkDetails?.status;
    if (data.type === ErrorTypes.NETWORK_ERROR && ![401, 403, 404, 410].includes(status) && this.networkRetries < 3) {
      this.networkRetries += 1;
      setTimeout(() => this.hls?.startLoad(), 1000 * this.networkRetries);
      return;
    }
    if (data.type === ErrorTypes.MEDIA_ERROR && this.mediaRecoveries < 2) {
      this.mediaRecoveries += 1;
      if (this.mediaRecoveries === 2) this.hls.swapAudioCodec();
      this.hls.recoverMediaError();
      return;
    }
    const error = { code: `hls_${data.details}`, message: data.error?.message || data.reason || data.details, status };
    if (this.rejectAttach) this.rejectAttach(Object.assign(new Error(error.message), error));
    else this.onFatal?.(error);
  }

  audioTracks() {
    const hls = this.hls;
    if (!hls) return [];
    return hls.audioTracks.map((t, i) => ({ id: i, label: t.name || t.lang || `Track ${i + 1}`, lang: t.lang, active: i === hls.audioTrack, channels: t.channels }));
  }
  setAudio(id) { this.hls.audioTrack = id; }
  subtitleTracks() {
    const hls = this.hls;
    if (!hls) return [];
    return hls.subtitleTracks.map((t, i) => ({ id: i, name: t.name, label: t.name || t.lang || `Subtitles ${i + 1}`, lang: t.lang, active: i === hls.subtitleTrack, forced: t.forced }));
  }
  setSubtitle(id) {
    this.hls.subtitleDisplay = id >= 0;
    this.hls.subtitleTrack = id;
    this.changed();
  }
  levels() {
    const hls = this.hls;
    if (!hls) return [];
    return hls.levels.map((l, i) => ({ id: i, height: l.height, width: l.width, bitrate: l.bitrate, active: i === hls.currentLevel }));
  }
  get autoLevel() { return this.hls?.autoLevelEnabled ?? true; }
  get playingLevel() { return this.hls?.currentLevel ?? -1; }
  /** -1: automatic (ABR); else switch now (flushes the buffer ahead for an instant change). */
  setLevel(id) { this.hls.currentLevel = id; this.changed(); }
  destroy() {
    this.hls?.destroy();
    this.hls = null;
  }
}
