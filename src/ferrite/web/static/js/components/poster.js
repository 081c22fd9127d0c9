// Artwork: the item's poster when it has one, else a generated placeholder (a gradient
// seeded by the title, with the title's initials), so a grid never shows broken images.

import { artworkSrc } from '../api.js';
import { h } from '../dom.js';
import { itemSubtitle } from '../format.js';
import { icon } from '../icons.js';

// Hue pairs that read well behind white text on a dark page (deep, not neon).
const PALETTE = [
  [12, 340], [24, 350], [200, 230], [215, 265], [260, 300], [280, 330], [170, 205],
  [150, 190], [35, 10], [220, 190], [320, 270], [190, 250], [0, 30], [245, 215],
];

function hash(text) {
  let x = 2166136261;
  for (const ch of text) { x ^= ch.codePointAt(0); x = Math.imul(x, 16777619); }
  // Final avalanche (murmur3 fmix32): short titles differ in a few bits only.
  x ^= x >>> 16; x = Math.imul(x, 0x85ebca6b); x ^= x >>> 13; x = Math.imul(x, 0xc2b2ae35); x ^= x >>> 16;
  return x >>> 0;
}

export function initials(title) {
  const words = String(title ?? '').replace(/[^\p{L}\p{N}\s]/gu, ' ').split(/\s+/).filter(Boolean);
  const skip = new Set(['the', 'a', 'an', 'of', 'and', 'le', 'la', 'les', 'el', 'der', 'die', 'das']);
  const main = words.filter((w, i) => i === 0 ? !skip.has(w.toLowerCase()) || words.length === 1 : !skip.has(w.toLowerCase()));
  const picked = (main.length ? main : words).slice(0, 2);
  return picked.map((w) => [...w][0].toUpperCase()).join('') || '?';
}

export function placeholder(title, caption) {
  const seed = hash(String(title ?? ''));
  const [a, b] = PALETTE[seed % PALETTE.length];
  const shift = ((seed >>> 8) % 21) - 10; // a little variety within a pair
  const h1 = (a + shift + 360) % 360;
  const h2 = (b + shift + 360) % 360;
  return h('div', { class: 'placeholder', 'aria-hidden': 'true', style: { '--h1': String(h1), '--h2': String(h2) } },
    h('span', null, initials(title)), caption ? h('small', null, caption) : null);
}

/** The artwork box: <img> (lazy) over a placeholder that shows if it fails. */
export function artwork(item, { landscape = false, eager = false, caption = null, title = item.title } = {}) {
  const box = h('div', { class: landscape ? 'art landscape' : 'art' });
  const src = artworkSrc(item);
  if (src) {
    const img = h('img', { src, alt: '', loading: eager ? 'eager' : 'lazy', decoding: 'async' });
    img.addEventListener('error', () => box.classList.add('broken'), { once: true });
    box.append(img);
  }
  box.append(placeholder(title, caption));
  const p = item.progress;
  if (p?.played) {
    box.append(h('span', { class: 'watched-mark', title: 'Watched' }, icon('check'), h('span', { class: 'visually-hidden' }, 'Watched')));
  } else if (p && p.position_s > 0 && item.duration_s) {
    const pct = Math.min(100, Math.max(2, (100 * p.position_s) / item.duration_s));
    box.append(h('div', { class: 'progress', 'aria-hidden': 'true' }, h('span', { style: { width: `${pct}%` } })));
  }
  return box;
}

export function itemHref(item) {
  return `/item/${item.id}`;
}

/** A poster card linking to the item. */
export function card(item, { landscape = false, sub = null } = {}) {
  const subtitle = sub ?? itemSubtitle(item);
  const label = [item.title, subtitle].filter(Boolean).join(', ');
  return h('a', { class: 'card', href: itemHref(item), 'aria-label': label, dataset: { itemId: item.id } },
    artwork(item, { landscape }),
    h('div', null,
      h('div', { class: 'card-title' }, item.title),
      subtitle ? h('div', { class: 'card-sub' }, subtitle) : null));
}
