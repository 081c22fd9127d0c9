// The player page: /play/:id[?t=seconds].
//
// One playback session per play action (POST /api/playback with the start position and
// the device profile); the decision's URL goes to hls.js, the browser's native HLS, or a
// plain <video src> for direct play. Position is reported every 10 s (the session's
// heartbeat) and on pause; telemetry (first frame, stalls, seeks, errors) as it happens;
// the session is stopped when the player is left, the page is hidden for good, or a new
// session replaces it (switching tracks during direct play, changing the quality cap).
// Without `t`, playback resumes from the stored position, so a reload continues where
// the viewer was.

import { api } from '../api.js';
import { h } from '../dom.js';
import * as fmt from '../format.js';
import { Controls } from '../player/controls.js';
import { DirectEngine, HlsJsEngine, NativeEngine, canPlayHlsNatively, deviceProfile, loadHls, prefersNativeHls } from '../player/engine.js';
import { PlaybackSession } from '../player/session.js';
import { Telemetry } from '../player/telemetry.js';
import { navigate } from '../router.js';
import { resumePoint } from './item.js';

// When a "Play" link was clicked: time to first frame counts from the click.
let playClick = null;
document.addEventListener('click', (e) => {
  const a = e.target.closest?.('a[href^="/play/"]');
  if (a) playClick = { path: new URL(a.href).pathname, at: performance.now() };
}, true);

const HEIGHTS = [2160, 1440, 1080, 720, 480, 360];
const MAX_RECOVERIES = 2;
const METHODS = { direct: 'Direct play', remux: 'Direct stream', transcode: 'Converting' };
// The decision's reason codes (ferrite.playback.decision_records.REASONS), for people.
const REASONS = {
  hls_required: 'streamed as HLS',
  container_not_supported: 'container not supported',
  no_video: 'audio only',
  video_codec_not_supported: 'video codec not supported',
  video_profile_not_supported: 'video profile not supported',
  video_level_exceeds: 'video level too high',
  bit_depth_exceeds: '10-bit video not supported',
  resolution_exceeds: 'resolution above the limit',
  frame_rate_exceeds: 'frame rate too high',
  hdr_not_supported: 'HDR tone-mapped to SDR',
  interlaced: 'deinterlaced',
  bitrate_exceeds_limit: 'bitrate above the limit',
  audio_codec_not_supported: 'audio converted',
  audio_channels_exceed: 'audio downmixed to stereo',
  subtitle_format_not_supported: 'subtitles drawn into the picture',
  subtitle_burn_in: 'subtitles drawn into the picture',
};

function describeDecision(s) {
  if (!s) return '';
  const reasons = [...new Set(s.reasons.map((r) => REASONS[r] ?? r.replaceAll('_', ' ')))];
  return [METHODS[s.method] ?? s.method, reasons.join(', ')].filter(Boolean).join(': ');
}

export async function playerView(ctx) {
  const itemId = Number(ctx.params.id);
  const path = `/play/${itemId}`;
  const clickAt = playClick?.path === path ? playClick.at : performance.now();
  playClick = null;
  const tParam = ctx.query.get('t');
  const requested = tParam !== null && Number.isFinite(Number(tParam)) ? Math.max(0, Number(tParam)) : null;
  // A reload should resume from the stored position, not from the link's start.
  history.replaceState(history.state, '', path);

  const video = h('video', { playsinline: true, 'webkit-playsinline': true, preload: 'auto' });
  const holder = h('div', { class: 'player', dataset: { state: 'loading' } }, video, h('div', { class: 'p-center' }, h('span', { class: 'spinner', role: 'status', 'aria-label': 'Loading' })));
  ctx.root.append(holder);

  const native = prefersNativeHls(video);
  const device = deviceProfile(native);
  const item = await api(`/api/items/${itemId}`, { signal: ctx.signal });
  if (item.kind !== 'movie' && item.kind !== 'episode') return navigate(`/item/${itemId}`, { replace: true });
  document.title = `${item.title} · Ferrite`;
  const startAt = requested ?? resumePoint(item);

  const file = (item.files ?? []).find((f) => f.playable !== false) ?? item.files?.[0];
  const streams = file?.streams ?? [];
  const sourceVideo = streams.find((s) => s.type === 'video');
  const audioStreams = streams.filter((s) => s.type === 'audio');
  const defaultAudio = (audioStreams.find((s) => s.default) ?? audioStreams[0])?.index ?? null;

  const controls = new Controls({
    video,
    title: item.title,
    subtitle: item.kind === 'episode' ? `Season ${item.season_number ?? '?'} · Episode ${item.episode_number ?? '?'}` : item.year ? String(item.year) : '',
    duration: item.duration_s,
    onBack: () => navigate(`/item/${itemId}`),
    onRetry: () => restart(),
  });
  holder.replaceWith(controls.el);
  const ui = controls.el;

  // What the viewer chose that needs the server (a new session) rather than the player.
  const choice = { audio: null, subtitle: null, maxHeight: null, forceHls: false };
  // Choices made during direct play, applied to the HLS tracks once they are known.
  let pendingAudio = null; // {language, title}
  let pendingSubtitle = null; // native HLS: applied once the browser lists the tracks
  // The HLS subtitle rendition the viewer picked ({name, forced}; {off: true}): hls.js is
  // created with it as its preference, so it survives a new session (recovery, restart).
  let subtitlePick = null;
  let session = null;
  let engine = null;
  let telemetry = null;
  let generation = 0;
  let recoveries = 0;
  let lastPosition = startAt;
  let leaving = false;
  // False from a (re)start until the new media plays: meanwhile currentTime says 0, not
  // where the viewer is, and must never be reported as their position.
  let settled = false;

  const position = () => (settled && Number.isFinite(video.currentTime) ? video.currentTime : lastPosition);

  async function teardown() {
    telemetry?.close();
    telemetry = null;
    engine?.destroy();
    engine = null;
    const old = session;
    session = null;
    settled = false;
    if (video.getAttribute('src') || video.src) {
      video.removeAttribute('src');
      video.load();
    }
    // Not awaited: the next session need not wait for the old one's goodbye.
    old?.stop(lastPosition);
  }

  async function start(at, clickTime) {
    const gen = ++generation;
    controls.setLoading(true);
    await teardown();
    const body = { item_id: itemId, device, start_s: Math.round(at * 1000) / 1000 };
    if (choice.audio !== null) body.audio_stream = choice.audio;
    if (choice.subtitle !== null) body.subtitle_stream = choice.subtitle;
    if (choice.maxHeight) body.max_height = choice.maxHeight;
    if (choice.forceHls) body.protocol = 'hls';
    let created;
    try {
      created = await PlaybackSession.create(body, ctx.signal);
    } catch (err) {
      if (err.name === 'AbortError' || ctx.signal.aborted) return;
      controls.showError(err.message);
      return;
    }
    if (gen !== generation || ctx.signal.aborted) { created.stop(null); return; }
    session = created;
    session.onGone = () => recover('The playback session ended on the server.');
    ui.dataset.method = session.method;
    ui.dataset.session = session.id;
    telemetry = new Telemetry(video, (event) => created.send(event), { clickAt: clickTime, method: session.method });
    try {
      engine = await makeEngine(session);
      ui.dataset.engine = engine.kind;
      engine.onchange(renderMenus);
      await engine.attach(video, session.url, at, ctx.signal);
    } catch (err) {
      if (gen !== generation || ctx.signal.aborted) return;
      telemetry?.error({ code: err.code ?? 'attach_failed', message: err.message });
      controls.showError(err.message);
      return;
    }
    if (gen !== generation || ctx.signal.aborted) return;
    renderMenus();
    session.startHeartbeat(() => (settled ? video.currentTime : null));
    try {
      await video.play();
    } catch (err) {
      if (gen !== generation) return;
      if (err.name === 'NotAllowedError') {
        // Autoplay was refused (no click on this page yet, e.g. after a reload).
        controls.setLoading(false);
        controls.showBigPlay(`Play ${item.title}`, () => {
          telemetry?.restartClock();
          video.play().catch(() => {});
        });
      } else if (err.name !== 'AbortError') {
        controls.showError(err.message);
      }
    }
  }

  /** hls.js's subtitlePreference for session s: what the viewer picked in the HLS menu,
   * else the rendition made for the subtitle stream asked of the server (selecting it by
   * hand once hls.js lists its tracks loses a race with hls.js's own initial selection). */
  function subtitlePreference(s) {
    if (subtitlePick) return subtitlePick.off ? null : subtitlePick;
    const r = choice.subtitle !== null ? s.renditions?.subtitles?.find((x) => x.track_id === choice.subtitle) : null;
    return r ? { name: r.name, forced: r.forced } : null;
  }

  /** The video rendition to start on: the source as it is (stream copy) when the ladder
   * has it. hls.js would otherwise start one rung below the first one listed (its first
   * bandwidth guess is that rung's bitrate, and it keeps a margin), i.e. on a converted
   * rung: a conversion started for a few seconds of video, and a slower first frame. On a
   * metered or slow connection hls.js's own guess stands. */
  function startRendition(s) {
    const net = navigator.connection;
    if (net?.saveData || /(^|-)2g$|^3g$/.test(net?.effectiveType ?? '')) return null;
    return s.renditions?.video?.find((v) => v.copy)?.id ?? null;
  }

  async function makeEngine(s) {
    if (s.method === 'direct' && !new URL(s.url, location.href).pathname.endsWith('.m3u8')) return new DirectEngine();
    if (native) return new NativeEngine();
    const Hls = await loadHls();
    if (Hls.isSupported()) {
      return new HlsJsEngine(Hls, { onFatal: (e) => recover(e.message, e), subtitle: subtitlePreference(s), startVideo: startRendition(s) });
    }
    if (canPlayHlsNatively(video)) return new NativeEngine();
    throw new Error('This browser cannot play HLS video.');
  }

  function restart() {
    recoveries = 0;
    return start(position(), performance.now());
  }

  function recover(message, error = {}) {
    if (leaving) return;
    telemetry?.error({ code: error.code ?? 'fatal', message });
    if (recoveries >= MAX_RECOVERIES) { controls.showError(message); return; }
    recoveries += 1;
    lastPosition = position();
    start(lastPosition, performance.now());
  }

  // -- menus -------------------------------------------------------------------------------
  function renderMenus() {
    if (!engine) return;
    const hlsMode = engine.kind !== 'direct';

    // Audio: switch in place with HLS; during direct play a new session (remux) is needed.
    const hlsAudio = hlsMode ? engine.audioTracks() : [];
    if (pendingAudio && hlsAudio.length) {
      const want = pendingAudio;
      pendingAudio = null;
      const match = pickTrack(hlsAudio, want);
      if (match && !match.active) { engine.setAudio(match.id); return; } // re-renders on the switch event
    }
    if (hlsAudio.length) {
      controls.setMenu('audio', {
        title: 'Audio',
        items: hlsAudio.map((t) => ({ id: t.id, label: t.label, detail: languageDetail(t), checked: t.active })),
        onselect: (id) => engine.setAudio(id),
      });
    } else {
      const current = choice.audio ?? defaultAudio;
      controls.setMenu('audio', {
        title: 'Audio',
        items: audioStreams.map((s) => ({ id: s.index, label: audioLabel(s), detail: s.title ?? '', checked: s.index === current })),
        onselect: (index) => {
          if (index === current) return;
          const stream = audioStreams.find((a) => a.index === index);
          pendingAudio = { language: stream?.language, title: stream?.title };
          choice.audio = index;
          choice.forceHls = true;
          lastPosition = position();
          start(lastPosition, performance.now());
        },
      });
    }

    // Subtitles: HLS renditions; during direct play picking one switches to HLS.
    const hlsSubs = hlsMode ? engine.subtitleTracks() : [];
    if (pendingSubtitle && hlsSubs.length && engine.kind === 'native') {
      const want = pendingSubtitle;
      pendingSubtitle = null;
      const match = pickTrack(hlsSubs, want) ?? hlsSubs[0];
      engine.setSubtitle(match.id);
      return; // setSubtitle re-renders the menus
    }
    if (hlsMode && hlsSubs.length) {
      const anyOn = hlsSubs.some((t) => t.active);
      controls.setMenu('subtitles', {
        title: 'Subtitles',
        items: [{ id: -1, label: 'Off', checked: !anyOn }, ...hlsSubs.map((t) => ({ id: t.id, label: t.label, detail: t.forced && !/forced/i.test(t.label) ? 'Forced' : languageDetail(t), checked: t.active }))],
        onselect: (id) => {
          const t = hlsSubs.find((x) => x.id === id);
          subtitlePick = t ? { name: t.name, forced: t.forced } : { off: true };
          engine.setSubtitle(id);
        },
      });
    } else {
      const subs = item.subtitles ?? [];
      controls.setMenu('subtitles', {
        title: 'Subtitles',
        items: [{ id: -1, label: 'Off', checked: true }, ...subs.map((s) => ({ id: s.id, label: subtitleLabel(s), detail: fmt.codec(s.format), checked: false }))],
        onselect: (id) => {
          const sub = subs.find((s) => s.id === id);
          if (!sub) return;
          pendingSubtitle = { language: sub.language, title: sub.title };
          subtitlePick = null;
          // The server learns the choice (image subtitles must be drawn into the picture);
          // text ones are HLS WebVTT renditions, which hls.js shows from the start (see
          // subtitlePreference) and the browser's own HLS once it lists them.
          choice.subtitle = sub.id;
          choice.forceHls = true;
          lastPosition = position();
          start(lastPosition, performance.now());
        },
      });
    }

    // Quality: hls.js levels (Auto = ABR), else a cap that makes the server convert.
    const levels = engine.kind === 'hls.js' ? engine.levels() : [];
    if (levels.length) {
      const playing = levels[engine.playingLevel];
      controls.setMenu('quality', {
        title: 'Quality',
        items: [
          { id: -1, label: 'Auto', detail: engine.autoLevel && playing?.height ? `${playing.height}p` : '', checked: engine.autoLevel },
          ...levels.slice().sort((a, b) => b.height - a.height || b.bitrate - a.bitrate)
            .map((l) => ({ id: l.id, label: l.height ? `${l.height}p` : 'Audio only', detail: fmt.bitrate(l.bitrate), checked: !engine.autoLevel && l.active })),
        ],
        onselect: (id) => engine.setLevel(id),
        min: 2,
        note: describeDecision(session),
      });
    } else {
      const sourceHeight = sourceVideo?.height ?? 0;
      controls.setMenu('quality', {
        title: 'Quality',
        items: [
          { id: 0, label: 'Original', checked: !choice.maxHeight },
          ...HEIGHTS.filter((px) => px < sourceHeight).map((px) => ({ id: px, label: `${px}p`, detail: 'Converted', checked: choice.maxHeight === px })),
        ],
        min: 1,
        note: describeDecision(session),
        onselect: (px) => {
          if ((px || null) === choice.maxHeight) return;
          choice.maxHeight = px || null;
          lastPosition = position();
          start(lastPosition, performance.now());
        },
      });
    }
  }

  // -- reporting -----------------------------------------------------------------------------
  const onPlaying = () => { if (session) settled = true; };
  const onPause = () => {
    if (settled && !video.ended) session?.send({ type: 'position', position_s: video.currentTime });
  };
  const onEnded = () => session?.send({ type: 'position', position_s: video.duration || video.currentTime });
  const onTime = () => { if (settled && !video.seeking) lastPosition = video.currentTime; };
  video.addEventListener('playing', onPlaying);
  video.addEventListener('pause', onPause);
  video.addEventListener('ended', onEnded);
  video.addEventListener('timeupdate', onTime);
  const onPageHide = (e) => {
    // The page is unloading (or frozen into the back/forward cache): end the session
    // with its final position in one request that outlives the page.
    leaving = !e.persisted;
    session?.stopOnUnload(position());
    if (!e.persisted) session = null;
  };
  const onPageShow = (e) => { if (e.persisted) restart(); };
  const onVisibility = () => { if (document.hidden) session?.send({ type: 'position', position_s: position() }); };
  window.addEventListener('pagehide', onPageHide);
  window.addEventListener('pageshow', onPageShow);
  document.addEventListener('visibilitychange', onVisibility);
  setupMediaSession(item, video, controls);

  start(startAt, clickAt);

  return async () => {
    leaving = true;
    generation += 1;
    window.removeEventListener('pagehide', onPageHide);
    window.removeEventListener('pageshow', onPageShow);
    document.removeEventListener('visibilitychange', onVisibility);
    video.removeEventListener('playing', onPlaying);
    video.removeEventListener('pause', onPause);
    video.removeEventListener('ended', onEnded);
    video.removeEventListener('timeupdate', onTime);
    controls.destroy();
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    if ('mediaSession' in navigator) navigator.mediaSession.metadata = null;
    lastPosition = position();
    await teardown();
  };
}

/** The HLS track matching a stream chosen from the item's facts: same language, then title. */
function pickTrack(tracks, want) {
  const same = tracks.filter((t) => fmt.sameLanguage(t.lang, want.language));
  return (want.title && same.find((t) => t.label.includes(want.title))) || same[0] || null;
}

/** The language, unless the track's name already says it. */
function languageDetail(t) {
  const name = fmt.language(t.lang);
  return name && !t.label.includes(name) ? name : '';
}

function audioLabel(s) {
  return [fmt.language(s.language) || 'Unknown', fmt.codec(s.codec), fmt.channels(s.channels, s.channel_layout)].filter(Boolean).join(' · ');
}

function subtitleLabel(s) {
  const name = fmt.language(s.language) || 'Unknown';
  return [name, s.title, s.forced ? 'Forced' : null].filter(Boolean).join(' · ');
}

function setupMediaSession(item, video, controls) {
  if (!('mediaSession' in navigator)) return;
  try {
    navigator.mediaSession.metadata = new MediaMetadata({ title: item.title, artist: item.kind === 'episode' ? `S${item.season_number} · E${item.episode_number}` : String(item.year ?? '') });
    navigator.mediaSession.setActionHandler('play', () => video.play());
    navigator.mediaSession.setActionHandler('pause', () => video.pause());
    navigator.mediaSession.setActionHandler('seekbackward', () => controls.skip(-10));
    navigator.mediaSession.setActionHandler('seekforward', () => controls.skip(10));
  } catch { /* optional */ }
}
