// What the viewer feels, measured in the page and sent to the events endpoint:
//   ttff  — from the play click to the first rendered frame
//   stall — `waiting` during playback until frames flow again (rebuffering), with its length
//   seek  — `seeking` until the first frame at the new place
//   error — media element and player errors
// "Rendered" is requestVideoFrameCallback's presentation time where the browser has it
// (Chrome, Safari), else the `playing`/`seeked` event.

const hasRVFC = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;

export class Telemetry {
  constructor(video, send, { clickAt = performance.now(), method = '' } = {}) {
    this.video = video;
    this.send = send;
    this.clickAt = clickAt;
    this.method = method;
    this.firstFrame = false;
    this.stallAt = null;
    this.seekAt = null;
    this.seekTo = 0;
    this.frameHandle = 0;
    this.listeners = [];
    this.on('playing', () => this.onPlaying());
    this.on('waiting', () => this.onWaiting());
    this.on('seeking', () => this.onSeeking());
    this.on('seeked', () => this.onSeeked());
    this.on('error', () => this.onError());
    this.awaitFrame((at) => this.onFirstFrame(at));
  }

  on(type, fn) {
    this.video.addEventListener(type, fn);
    this.listeners.push([type, fn]);
  }

  /** Call fn(presentationTime) at the next rendered frame (or the next `playing`). */
  awaitFrame(fn) {
    if (hasRVFC) {
      this.video.cancelVideoFrameCallback?.(this.frameHandle);
      this.frameHandle = this.video.requestVideoFrameCallback((now) => fn(now));
    } else {
      const once = () => { this.video.removeEventListener('playing', once); fn(performance.now()); };
      this.video.addEventListener('playing', once);
    }
  }

  /** A new play click (e.g. the big play button after autoplay was blocked). */
  restartClock() {
    if (!this.firstFrame) this.clickAt = performance.now();
  }

  onFirstFrame(at) {
    if (this.firstFrame) return;
    if (hasRVFC && (this.video.paused || this.video.seeking)) {
      // A frame shown before playback (the frame at 0 before the seek to the start
      // position, or a paused preview): the viewer is still waiting.
      this.awaitFrame((t) => this.onFirstFrame(t));
      return;
    }
    this.firstFrame = true;
    this.ttffMs = Math.max(0, at - this.clickAt);
    this.video.dataset.ttffMs = String(Math.round(this.ttffMs));
    this.send({ type: 'ttff', ms: round(this.ttffMs), method: this.method });
  }

  onWaiting() {
    if (!this.firstFrame || this.video.seeking || this.seekAt !== null || this.stallAt !== null) return;
    this.stallAt = performance.now();
    this.stallPosition = this.video.currentTime;
  }

  onPlaying() {
    if (this.stallAt === null) return;
    const started = this.stallAt;
    this.stallAt = null;
    const ms = performance.now() - started;
    this.send({ type: 'stall', ms: round(ms), position_s: round(this.stallPosition) });
  }

  onSeeking() {
    if (!this.firstFrame) return;
    this.stallAt = null; // a stall cut short by a seek is the seek's latency now
    this.seekAt = performance.now();
    this.seekTo = this.video.currentTime;
  }

  onSeeked() {
    if (this.seekAt === null) return;
    const started = this.seekAt;
    const report = (at) => {
      if (this.seekAt !== started) return; // superseded by a newer seek
      this.seekAt = null;
      const ms = Math.max(0, at - started);
      this.video.dataset.seekMs = String(Math.round(ms));
      this.send({ type: 'seek', ms: round(ms), position_s: round(this.seekTo) });
    };
    if (hasRVFC && !this.video.paused) this.awaitFrame(report);
    else report(performance.now());
  }

  onError() {
    const err = this.video.error;
    if (!err) return;
    this.error({ code: `media_${err.code}`, message: err.message || 'The browser could not play this media.' });
  }

  error({ code, message, fatal = true }) {
    this.send({ type: 'error', code, message: String(message).slice(0, 500), fatal });
  }

  close() {
    for (const [type, fn] of this.listeners) this.video.removeEventListener(type, fn);
    this.listeners = [];
    if (hasRVFC) this.video.cancelVideoFrameCallback?.(this.frameHandle);
  }
}

const round = (x) => Math.round(x * 10) / 10;
