// Item pages: a movie or episode (facts about its file, play/resume), a show (its
// seasons), a season (its episodes).

import { api, artworkSrc } from '../api.js';
import { artwork, card } from '../components/poster.js';
import { h, toast } from '../dom.js';
import * as fmt from '../format.js';
import { icon } from '../icons.js';

/**
 * Where "Resume" starts: the stored position, unless the item is finished (the server
 * marks it played past its threshold), barely started, or in its last seconds.
 */
export function resumePoint(item) {
  const p = item.progress;
  if (!p || p.played || !(p.position_s >= 3)) return 0;
  if (item.duration_s && p.position_s > item.duration_s - 3) return 0;
  return p.position_s;
}

export async function itemView(ctx) {
  const item = await api(`/api/items/${Number(ctx.params.id)}`, { signal: ctx.signal });
  document.title = `${item.title} · Ferrite`;
  const ancestors = await loadAncestors(item, ctx.signal);
  if (item.kind === 'show' || item.kind === 'season') return containerView(ctx, item, ancestors);
  return playableView(ctx, item, ancestors);
}

async function loadAncestors(item, signal) {
  const out = [];
  let parentId = item.parent_id;
  while (parentId && out.length < 3) {
    try {
      const parent = await api(`/api/items/${parentId}`, { signal });
      out.unshift(parent);
      parentId = parent.parent_id;
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      break;
    }
  }
  return out;
}

function crumbs(ancestors) {
  if (!ancestors.length) return null;
  const parts = [];
  for (const a of ancestors) {
    if (parts.length) parts.push(h('span', { 'aria-hidden': 'true' }, '›'));
    parts.push(h('a', { href: `/item/${a.id}` }, a.kind === 'season' ? fmt.itemSubtitle(a) : a.title));
  }
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, parts);
}

function hero(item, ancestors, ...body) {
  const bgSource = artworkSrc(item) ?? ancestors.map(artworkSrc).find(Boolean);
  const bg = h('div', { class: 'hero-bg', 'aria-hidden': 'true' });
  if (bgSource) bg.style.setProperty('background-image', `url("${bgSource}")`);
  const posterTitle = item.kind === 'episode' || item.kind === 'season' ? ancestors[0]?.title ?? item.title : item.title;
  return h('section', { class: 'hero' }, bg,
    h('div', { class: 'hero-inner' },
      artwork(item, { eager: true, title: posterTitle, landscape: item.kind === 'episode' }),
      h('div', { class: 'hero-text' }, crumbs(ancestors), ...body)));
}

function mainVideo(item) {
  const file = (item.files ?? []).find((f) => f.playable !== false) ?? item.files?.[0];
  const video = file?.streams?.find((s) => s.type === 'video');
  return { file, video };
}

function playableView(ctx, item, ancestors) {
  const { file, video } = mainVideo(item);
  const resume = resumePoint(item);
  const heading = item.kind === 'episode'
    ? [h('p', { class: 'muted' }, `Season ${item.season_number ?? '?'} · Episode ${item.episode_number ?? '?'}`), h('h1', null, item.title)]
    : [h('h1', null, item.title)];
  const meta = h('div', { class: 'meta' },
    item.year ? h('span', null, String(item.year)) : null,
    item.duration_s ? h('span', null, fmt.runtime(item.duration_s)) : null,
    video ? h('span', { class: 'pill' }, fmt.resolution(video.width, video.height)) : null,
    video && video.hdr && video.hdr !== 'none' ? h('span', { class: 'pill hdr' }, fmt.HDR[video.hdr] ?? video.hdr) : null,
    video ? h('span', { class: 'pill' }, fmt.codec(video.codec)) : null);

  const actions = h('div', { class: 'actions' });
  const playable = Boolean(file) && file.playable !== false;
  if (playable && resume) {
    actions.append(
      h('a', { class: 'btn primary large', href: `/play/${item.id}?t=${Math.floor(resume)}`, dataset: { action: 'resume' } }, icon('play'), `Resume from ${fmt.clock(resume)}`),
      h('a', { class: 'btn ghost large', href: `/play/${item.id}?t=0`, dataset: { action: 'play-start' } }, 'Play from start'));
  } else if (playable) {
    actions.append(h('a', { class: 'btn primary large', href: `/play/${item.id}?t=0`, dataset: { action: 'play' } }, icon('play'), 'Play'));
  } else {
    actions.append(h('p', { class: 'form-error' }, file ? 'This file could not be read. An admin can rescan the library after replacing it.' : 'This item has no media file.'));
  }
  const watched = h('button', { class: 'btn ghost large', type: 'button', 'aria-pressed': String(Boolean(item.progress?.played)) },
    icon('check'), item.progress?.played ? 'Watched' : 'Mark watched');
  watched.addEventListener('click', async () => {
    const played = !item.progress?.played;
    watched.disabled = true;
    try {
      const saved = await api(`/api/items/${item.id}/progress`, { method: 'PUT', body: { position_s: played ? item.duration_s ?? 0 : 0, played } });
      item.progress = { position_s: saved.position_s, played: saved.played };
      watched.setAttribute('aria-pressed', String(saved.played));
      watched.lastChild.textContent = saved.played ? 'Watched' : 'Mark watched';
    } catch (err) {
      toast(err.message, { error: true });
    } finally {
      watched.disabled = false;
    }
  });
  if (playable) actions.append(watched);

  const resumeBar = resume && item.duration_s
    ? h('div', { class: 'resume-bar' },
      h('div', { class: 'track', 'aria-hidden': 'true' }, h('span', { style: { width: `${(100 * resume) / item.duration_s}%` } })),
      h('span', null, `${fmt.clock(resume)} of ${fmt.clock(item.duration_s)} watched`))
    : null;

  ctx.root.append(
    hero(item, ancestors, ...heading, meta, resumeBar, actions),
    h('div', { class: 'page' }, facts(item)));
}

function facts(item) {
  const files = item.files ?? [];
  if (!files.length) return null;
  const sections = [];
  files.forEach((file, i) => {
    const streams = file.streams ?? [];
    const video = streams.filter((s) => s.type === 'video');
    const audio = streams.filter((s) => s.type === 'audio');
    const fileTitle = files.length > 1 ? `File ${i + 1}` : 'File';
    sections.push(h('div', { class: 'fact-card', dataset: { facts: 'file' } },
      h('h3', null, fileTitle),
      dl([
        ['Container', (file.container ?? '').split(',')[0].toUpperCase()],
        ['Duration', fmt.clock(file.duration_s ?? item.duration_s)],
        ['Size', fmt.bytes(file.size)],
        ['Bitrate', fmt.bitrate(file.bitrate)],
      ])));
    for (const v of video) {
      sections.push(h('div', { class: 'fact-card', dataset: { facts: 'video' } },
        h('h3', null, 'Video'),
        dl([
          ['Codec', [fmt.codec(v.codec), v.profile, v.level ? levelText(v) : null].filter(Boolean).join(' · ')],
          ['Resolution', v.width && v.height ? `${v.width} × ${v.height} (${fmt.resolution(v.width, v.height)})` : ''],
          ['Frame rate', fmt.frameRate(v.frame_rate)],
          ['Bit depth', v.bit_depth ? `${v.bit_depth}-bit` : ''],
          ['Dynamic range', v.hdr && v.hdr !== 'none' ? fmt.HDR[v.hdr] ?? v.hdr : 'SDR'],
          ['Pixel format', v.pix_fmt],
        ])));
    }
    sections.push(h('div', { class: 'fact-card', dataset: { facts: 'audio' } },
      h('h3', null, `Audio tracks (${audio.length})`),
      audio.length
        ? h('ul', { class: 'tracks' }, audio.map((a) => h('li', null,
          h('strong', null, fmt.language(a.language) || 'Unknown language'),
          h('span', null, [fmt.codec(a.codec), fmt.channels(a.channels, a.channel_layout)].filter(Boolean).join(' ')),
          a.title ? h('span', { class: 'muted' }, a.title) : null,
          a.default ? h('span', { class: 'pill' }, 'DEFAULT') : null)))
        : h('p', { class: 'muted' }, 'No audio')));
  });
  const subs = item.subtitles ?? [];
  sections.push(h('div', { class: 'fact-card', dataset: { facts: 'subtitles' } },
    h('h3', null, `Subtitles (${subs.length})`),
    subs.length
      ? h('ul', { class: 'tracks' }, subs.map((s) => h('li', null,
        h('strong', null, fmt.language(s.language) || 'Unknown language'),
        h('span', null, fmt.codec(s.format)),
        s.title ? h('span', { class: 'muted' }, s.title) : null,
        s.external ? h('span', { class: 'pill' }, 'EXTERNAL') : null,
        s.forced ? h('span', { class: 'pill' }, 'FORCED') : null,
        s.default ? h('span', { class: 'pill' }, 'DEFAULT') : null)))
      : h('p', { class: 'muted' }, 'None')));
  return h('section', { class: 'section', 'aria-labelledby': 'facts-h' },
    h('div', { class: 'section-head' }, h('h2', { id: 'facts-h' }, 'Media info')),
    h('div', { class: 'facts' }, sections));
}

function levelText(v) {
  if (v.codec === 'h264') return `L${(v.level / 10).toFixed(1)}`;
  if (v.codec === 'hevc') return `L${(v.level / 30).toFixed(1)}`;
  return `L${v.level}`;
}

function dl(rows) {
  return h('dl', null, rows.filter(([, v]) => v).flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

async function containerView(ctx, item, ancestors) {
  const children = await api(`/api/items/${item.id}/children`, { signal: ctx.signal });
  const isShow = item.kind === 'show';
  const title = isShow ? item.title : fmt.itemSubtitle(item);
  const meta = h('div', { class: 'meta' },
    isShow && item.year ? h('span', null, String(item.year)) : null,
    h('span', null, isShow ? `${children.total} ${children.total === 1 ? 'season' : 'seasons'}` : `${children.total} ${children.total === 1 ? 'episode' : 'episodes'}`));
  const next = isShow ? null : nextEpisode(children.items);
  const actions = next
    ? h('div', { class: 'actions' }, h('a', { class: 'btn primary large', href: `/play/${next.id}${resumePoint(next) ? `?t=${Math.floor(resumePoint(next))}` : '?t=0'}` }, icon('play'),
      resumePoint(next) ? `Resume E${next.episode_number ?? ''}` : `Play E${next.episode_number ?? ''}`))
    : null;
  ctx.root.append(hero(item, ancestors, h('h1', null, title), meta, actions));
  const body = h('div', { class: 'page' });
  if (isShow) {
    body.append(h('section', { class: 'section', 'aria-labelledby': 'seasons-h' },
      h('div', { class: 'section-head' }, h('h2', { id: 'seasons-h' }, 'Seasons')),
      h('div', { class: 'grid', dataset: { grid: 'seasons' } }, children.items.map((s) => card({ ...s, title: fmt.itemSubtitle(s) }, { sub: '' })))));
  } else {
    body.append(h('section', { class: 'section', 'aria-labelledby': 'episodes-h' },
      h('div', { class: 'section-head' }, h('h2', { id: 'episodes-h' }, 'Episodes')),
      h('ol', { class: 'episodes' }, children.items.map((ep) => episodeRow(ep, ancestors[0] ?? item)))));
  }
  ctx.root.append(body);
}

function nextEpisode(episodes) {
  return episodes.find((e) => e.progress && !e.progress.played && e.progress.position_s > 0)
    ?? episodes.find((e) => !e.progress?.played) ?? episodes[0];
}

function episodeRow(ep, show) {
  const resume = resumePoint(ep);
  return h('li', { class: 'episode', dataset: { itemId: ep.id } },
    h('a', { href: `/item/${ep.id}`, tabindex: '-1', 'aria-hidden': 'true' }, artwork(ep, { landscape: true, title: show.title, caption: `E${ep.episode_number ?? '?'}` })),
    h('div', null,
      h('h3', null, h('a', { href: `/item/${ep.id}` }, `${ep.episode_number ?? '–'}. ${ep.title}`)),
      h('p', null, [fmt.runtime(ep.duration_s), ep.progress?.played ? 'Watched' : resume ? `${fmt.clock(resume)} watched` : null].filter(Boolean).join(' · '))),
    h('a', { class: 'btn small', href: `/play/${ep.id}?t=${Math.floor(resume)}`, 'aria-label': `Play episode ${ep.episode_number ?? ''} ${ep.title}` }, icon('play'), resume ? 'Resume' : 'Play'));
}
