// The player's chrome: seek bar with buffered ranges, transport buttons, volume, time,
// audio/subtitle/quality menus, fullscreen, keyboard shortcuts, auto-hide.
//
// Keys: space or k play/pause · f fullscreen · ← → ±10 s · ↑ ↓ volume · m mute ·
//       Esc closes a menu.

import { h } from '../dom.js';
import { clock } from '../format.js';
import { icon } from '../icons.js';

const IDLE_MS = 3000;
const SKIP_S = 10;

function button(name, label, onclick, extra = {}) {
  const b = h('button', { class: 'p-btn', type: 'button', 'aria-label': label, title: label, onclick, ...extra }, icon(name));
  b.setIcon = (next) => b.replaceChildren(icon(next));
  return b;
}

export class Controls {
  constructor({ video, title, subtitle, duration, onBack, onRetry }) {
    this.video = video;
    this.knownDuration = duration || 0;
    this.onRetry = onRetry;
    this.menus = {};
    this.openMenu = null;
    this.listeners = [];
    this.idleTimer = 0;
    this.scrubbing = false;

    // -- top: back + title
    const back = button('back', 'Back', onBack);
    this.top = h('div', { class: 'p-top' }, back, h('div', { class: 'p-title' }, h('strong', null, title), subtitle ? h('small', null, subtitle) : null));

    // -- seek bar: buffered ranges and the played part under a transparent range input
    this.buffered = h('div', { class: 'seek-buffered-wrap' });
    this.played = h('div', { class: 'seek-played' });
    this.seekInput = h('input', {
      type: 'range', min: '0', max: '0', step: 'any', value: '0', class: 'seek-input',
      'aria-label': 'Seek', 'aria-valuetext': '0:00',
    });
    this.tip = h('div', { class: 'seek-tip', hidden: true, 'aria-hidden': 'true' });
    this.seek = h('div', { class: 'seek' }, h('div', { class: 'seek-track' }, this.buffered, this.played), this.seekInput, this.tip);

    // -- transport
    this.playBtn = button('play', 'Play (k)', () => this.togglePlay());
    const rewind = button('replay10', `Back ${SKIP_S} seconds (←)`, () => this.skip(-SKIP_S), { class: 'p-btn p-skip' });
    const forward = button('forward10', `Forward ${SKIP_S} seconds (→)`, () => this.skip(SKIP_S), { class: 'p-btn p-skip' });
    this.muteBtn = button('volume', 'Mute (m)', () => this.toggleMute(), { class: 'p-btn p-mute' });
    this.volume = h('input', { type: 'range', min: '0', max: '1', step: '0.05', class: 'p-volume', 'aria-label': 'Volume' });
    this.time = h('span', { class: 'p-time', 'aria-live': 'off' }, '0:00 / 0:00');
    this.audioBtn = this.menuButton('audio', 'audio', 'Audio track');
    this.subsBtn = this.menuButton('subtitles', 'subtitles', 'Subtitles');
    this.qualityBtn = this.menuButton('quality', 'quality', 'Quality');
    this.fsBtn = button('fullscreen', 'Full screen (f)', () => this.toggleFullscreen());
    const bar = h('div', { class: 'p-bar' }, this.playBtn, rewind, forward, this.muteBtn, this.volume, this.time, h('span', { class: 'spacer' }),
      this.audioBtn, this.subsBtn, this.qualityBtn, this.fsBtn);
    this.bottom = h('div', { class: 'p-bottom' }, this.seek, bar);

    this.center = h('div', { class: 'p-center' });
    this.menuEl = h('div', { class: 'p-menu', role: 'menu', hidden: true, id: 'player-menu' });
    this.chrome = h('div', { class: 'chrome' }, this.center, this.top, this.bottom, this.menuEl);
    this.el = h('div', { class: 'player', dataset: { state: 'loading' } }, video, this.chrome);
    this.flashEl = null;

    this.wire();
    this.setLoading(true);
  }

  listen(target, type, fn, opts) {
    target.addEventListener(type, fn, opts);
    this.listeners.push(() => target.removeEventListener(type, fn, opts));
  }

  wire() {
    const v = this.video;
    const sync = () => this.syncState();
    for (const type of ['play', 'pause', 'playing', 'ended', 'emptied']) this.listen(v, type, sync);
    this.listen(v, 'waiting', () => this.setLoading(true));
    this.listen(v, 'canplay', () => this.setLoading(false));
    this.listen(v, 'playing', () => this.setLoading(false));
    this.listen(v, 'seeked', () => { if (v.readyState >= 3) this.setLoading(false); });
    this.listen(v, 'timeupdate', () => this.renderTime());
    this.listen(v, 'durationchange', () => this.renderTime());
    this.listen(v, 'progress', () => this.renderBuffered());
    this.listen(v, 'volumechange', () => this.renderVolume());

    // Seek bar: preview while dragging, seek on release (one seek, not one per pixel).
    this.listen(this.seekInput, 'input', () => {
      this.scrubbing = true;
      this.renderPlayed(Number(this.seekInput.value));
      this.time.textContent = `${clock(Number(this.seekInput.value))} / ${clock(this.duration)}`;
    });
    this.listen(this.seekInput, 'change', () => {
      this.scrubbing = false;
      this.seekTo(Number(this.seekInput.value));
    });
    this.listen(this.seek, 'pointermove', (e) => {
      const rect = this.seek.getBoundingClientRect();
      const x = Math.min(Math.max(e.clientX - rect.left, 0), rect.width);
      this.tip.hidden = !this.duration;
      this.tip.textContent = clock((x / rect.width) * this.duration);
      this.tip.style.setProperty('left', `${x}px`);
    });
    this.listen(this.seek, 'pointerleave', () => { this.tip.hidden = true; });

    this.listen(this.volume, 'input', () => {
      v.volume = Number(this.volume.value);
      v.muted = v.volume === 0;
    });

    // Clicks on the picture: play/pause with a mouse; with touch, first show the controls.
    this.listen(v, 'click', (e) => {
      if (e.pointerType === 'touch' && this.el.classList.contains('idle')) return this.wake();
      this.togglePlay();
    });
    this.listen(v, 'dblclick', () => this.toggleFullscreen());
    this.listen(this.el, 'pointermove', () => this.wake());
    this.listen(this.el, 'pointerdown', () => this.wake());
    this.listen(this.el, 'focusin', () => this.wake());
    this.listen(document, 'keydown', (e) => this.onKey(e));
    this.listen(document, 'fullscreenchange', () => this.renderFullscreen());
    this.listen(document, 'webkitfullscreenchange', () => this.renderFullscreen());
    this.listen(document, 'click', (e) => {
      if (this.openMenu && !e.target.closest('.p-menu') && !e.target.closest('[aria-haspopup="menu"]')) this.closeMenu();
    });
    this.renderVolume();
    this.renderFullscreen();
  }

  // -- state ------------------------------------------------------------------------------
  get duration() {
    const d = this.video.duration;
    return Number.isFinite(d) && d > 0 ? d : this.knownDuration;
  }

  syncState() {
    const v = this.video;
    const state = v.ended ? 'ended' : v.paused ? 'paused' : 'playing';
    this.el.dataset.state = state;
    this.playBtn.setIcon(v.paused ? 'play' : 'pause');
    const label = v.paused ? 'Play (k)' : 'Pause (k)';
    this.playBtn.setAttribute('aria-label', label);
    this.playBtn.title = label;
    if (state === 'playing') this.hideCenter();
    if (state === 'ended') this.showBigPlay('Play again');
    this.wake();
  }

  setLoading(on) {
    this.loading = on;
    if (on) this.center.replaceChildren(h('span', { class: 'spinner', role: 'status', 'aria-label': 'Loading' }));
    else if (this.center.querySelector('.spinner')) this.center.replaceChildren();
  }

  hideCenter() {
    if (!this.center.querySelector('.p-message')) this.center.replaceChildren();
  }

  /** The big round button (autoplay blocked, ended). */
  showBigPlay(label = 'Play', onclick = () => this.togglePlay()) {
    const big = h('button', { class: 'p-big', type: 'button', 'aria-label': label, onclick }, icon('play'));
    this.center.replaceChildren(big);
    big.focus({ preventScroll: true });
    return big;
  }

  showError(message, { retry = true } = {}) {
    this.el.dataset.state = 'error';
    this.center.replaceChildren(h('div', { class: 'p-message', role: 'alert' },
      h('strong', null, 'Playback failed'),
      h('p', { class: 'muted' }, message),
      retry && this.onRetry ? h('button', { class: 'btn primary', type: 'button', onclick: () => this.onRetry() }, 'Try again') : null));
  }

  renderTime() {
    if (this.scrubbing) return;
    const d = this.duration;
    const t = this.video.currentTime;
    this.seekInput.max = String(d || 0);
    this.seekInput.value = String(t);
    this.seekInput.setAttribute('aria-valuetext', `${clock(t)} of ${clock(d)}`);
    this.time.textContent = `${clock(t)} / ${clock(d)}`;
    this.renderPlayed(t);
    this.renderBuffered();
  }

  renderPlayed(t) {
    const d = this.duration;
    this.played.style.setProperty('width', d ? `${Math.min(100, (100 * t) / d)}%` : '0');
  }

  renderBuffered() {
    const d = this.duration;
    const ranges = this.video.buffered;
    const parts = [];
    if (d) {
      for (let i = 0; i < ranges.length; i += 1) {
        const start = ranges.start(i);
        const end = Math.min(ranges.end(i), d);
        const el = h('div', { class: 'seek-buffered' });
        el.style.setProperty('left', `${(100 * start) / d}%`);
        el.style.setProperty('width', `${(100 * Math.max(0, end - start)) / d}%`);
        parts.push(el);
      }
    }
    this.buffered.replaceChildren(...parts);
  }

  renderVolume() {
    const v = this.video;
    const muted = v.muted || v.volume === 0;
    this.volume.value = String(muted ? 0 : v.volume);
    this.muteBtn.setIcon(muted ? 'mute' : 'volume');
    const label = muted ? 'Unmute (m)' : 'Mute (m)';
    this.muteBtn.setAttribute('aria-label', label);
    this.muteBtn.title = label;
  }

  renderFullscreen() {
    const on = Boolean(document.fullscreenElement || document.webkitFullscreenElement);
    this.fsBtn.setIcon(on ? 'exitFullscreen' : 'fullscreen');
    const label = on ? 'Exit full screen (f)' : 'Full screen (f)';
    this.fsBtn.setAttribute('aria-label', label);
    this.fsBtn.title = label;
  }

  // -- actions ------------------------------------------------------------------------------
  togglePlay() {
    const v = this.video;
    if (v.paused || v.ended) {
      this.onPlayRequest?.();
      v.play().catch(() => {});
    } else {
      v.pause();
    }
  }

  seekTo(t) {
    const d = this.duration;
    const target = Math.max(0, d ? Math.min(t, d - 0.25) : t);
    this.video.currentTime = target;
    this.renderTime();
  }

  skip(delta) {
    this.seekTo(this.video.currentTime + delta);
    this.flash(delta > 0 ? `+${delta} s` : `−${-delta} s`);
  }

  toggleMute() {
    const v = this.video;
    if (v.muted || v.volume === 0) { v.muted = false; if (v.volume === 0) v.volume = 0.5; } else v.muted = true;
    this.flash(v.muted ? 'Muted' : `Volume ${Math.round(v.volume * 100)}%`);
  }

  changeVolume(delta) {
    const v = this.video;
    v.muted = false;
    v.volume = Math.min(1, Math.max(0, Math.round((v.volume + delta) * 20) / 20));
    this.flash(`Volume ${Math.round(v.volume * 100)}%`);
  }

  toggleFullscreen() {
    const doc = document;
    if (doc.fullscreenElement || doc.webkitFullscreenElement) {
      (doc.exitFullscreen ?? doc.webkitExitFullscreen)?.call(doc);
    } else if (this.el.requestFullscreen) {
      this.el.requestFullscreen().catch(() => {});
    } else if (this.el.webkitRequestFullscreen) {
      this.el.webkitRequestFullscreen();
    } else if (this.video.webkitEnterFullscreen) {
      this.video.webkitEnterFullscreen(); // iPhone: only the video element can go full screen
    }
  }

  flash(text) {
    this.flashEl?.remove();
    this.flashEl = h('div', { class: 'p-flash', 'aria-hidden': 'true' }, text);
    this.chrome.append(this.flashEl);
  }

  wake() {
    this.el.classList.remove('idle');
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (!this.video.paused && !this.openMenu && !this.scrubbing) this.el.classList.add('idle');
    }, IDLE_MS);
  }

  onKey(e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target;
    if (target.matches?.('input[type="text"], input[type="search"], textarea, select')) return;
    const inMenu = Boolean(target.closest?.('.p-menu'));
    const onButton = target.matches?.('button, a');
    const key = e.key;
    if (key === 'Escape' && this.openMenu) { e.preventDefault(); this.closeMenu(true); return; }
    if (inMenu && ['ArrowUp', 'ArrowDown', 'Home', 'End', ' ', 'Enter'].includes(key)) return; // the menu's own keys
    if (target === this.volume && ['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight'].includes(key)) return;
    let handled = true;
    switch (key) {
      case ' ':
        if (onButton) { handled = false; break; } // activates the focused button
        this.togglePlay();
        break;
      case 'k': case 'K': this.togglePlay(); break;
      case 'f': case 'F': this.toggleFullscreen(); break;
      case 'm': case 'M': this.toggleMute(); break;
      case 'ArrowLeft': this.skip(-SKIP_S); break;
      case 'ArrowRight': this.skip(SKIP_S); break;
      case 'ArrowUp': this.changeVolume(0.05); break;
      case 'ArrowDown': this.changeVolume(-0.05); break;
      default: handled = false;
    }
    if (handled) {
      e.preventDefault();
      this.wake();
    }
  }

  // -- menus ---------------------------------------------------------------------------------
  menuButton(name, iconName, label) {
    const b = button(iconName, label, () => this.toggleMenu(name), { 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': 'player-menu', hidden: true, dataset: { menu: name } });
    return b;
  }

  /**
   * Describe a menu: items [{id, label, detail?, checked}], onselect(id). A menu with fewer
   * than `min` items hides its button.
   */
  setMenu(name, { title, items, onselect, min = 2, note = '' }) {
    this.menus[name] = { title, items, onselect, note };
    const btn = { audio: this.audioBtn, subtitles: this.subsBtn, quality: this.qualityBtn }[name];
    btn.hidden = items.length < min;
    if (this.openMenu === name) this.renderMenu(name, false);
  }

  toggleMenu(name) {
    if (this.openMenu === name) this.closeMenu(true);
    else this.renderMenu(name, true);
  }

  renderMenu(name, focus) {
    const menu = this.menus[name];
    if (!menu) return;
    for (const b of [this.audioBtn, this.subsBtn, this.qualityBtn]) b.setAttribute('aria-expanded', String(b.dataset.menu === name));
    this.openMenu = name;
    const buttons = menu.items.map((item) => h('button', {
      type: 'button', role: 'menuitemradio', 'aria-checked': String(Boolean(item.checked)), tabindex: '-1',
      dataset: { id: String(item.id) },
      onclick: () => { this.closeMenu(true); menu.onselect(item.id); },
    }, h('span', null, item.label), item.detail ? h('small', null, item.detail) : null));
    this.menuEl.replaceChildren(h('h3', { id: 'player-menu-title' }, menu.title), ...buttons,
      menu.note ? h('p', { class: 'p-note', role: 'note' }, menu.note) : null);
    this.menuEl.setAttribute('aria-labelledby', 'player-menu-title');
    this.menuEl.hidden = false;
    this.menuEl.onkeydown = (e) => {
      const i = buttons.indexOf(document.activeElement);
      let next = null;
      if (e.key === 'ArrowDown') next = buttons[(i + 1) % buttons.length];
      if (e.key === 'ArrowUp') next = buttons[(i - 1 + buttons.length) % buttons.length];
      if (e.key === 'Home') next = buttons[0];
      if (e.key === 'End') next = buttons[buttons.length - 1];
      if (e.key === 'Tab') this.closeMenu(false);
      if (next) { e.preventDefault(); next.focus(); }
    };
    if (focus) (buttons.find((b) => b.getAttribute('aria-checked') === 'true') ?? buttons[0])?.focus();
    this.wake();
  }

  closeMenu(returnFocus) {
    const name = this.openMenu;
    if (!name) return;
    this.openMenu = null;
    this.menuEl.hidden = true;
    this.menuEl.replaceChildren();
    const btn = { audio: this.audioBtn, subtitles: this.subsBtn, quality: this.qualityBtn }[name];
    btn.setAttribute('aria-expanded', 'false');
    if (returnFocus) btn.focus();
  }

  destroy() {
    clearTimeout(this.idleTimer);
    for (const off of this.listeners) off();
    this.listeners = [];
  }
}
