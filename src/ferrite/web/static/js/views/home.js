// Home: continue watching, then each library's newest items.

import { api, session } from '../api.js';
import { card } from '../components/poster.js';
import { h, spinner } from '../dom.js';

export async function homeView(ctx) {
  document.title = 'Home · Ferrite';
  const page = h('div', { class: 'page' }, h('h1', { class: 'visually-hidden' }, 'Home'), spinner());
  ctx.root.append(page);
  const [cont, libraries] = await Promise.all([
    api('/api/continue', { signal: ctx.signal, query: { limit: 20 } }),
    api('/api/libraries', { signal: ctx.signal }),
  ]);
  const latest = await Promise.all(libraries.map((lib) =>
    api('/api/items', { signal: ctx.signal, query: { library_id: lib.id, sort: '-added', limit: 20 } })
      .then((page) => ({ lib, items: page.items }))
      .catch(() => ({ lib, items: [] }))));
  page.querySelector('.boot')?.remove();

  if (cont.items.length) {
    page.append(h('section', { class: 'section', 'aria-labelledby': 'continue-h' },
      h('div', { class: 'section-head' }, h('h2', { id: 'continue-h' }, 'Continue watching')),
      h('div', { class: 'row wide', dataset: { row: 'continue' } }, cont.items.map((item) => card(item, { landscape: true, sub: remaining(item) })))));
  }
  for (const { lib, items } of latest) {
    const id = `lib-${lib.id}-h`;
    page.append(h('section', { class: 'section', 'aria-labelledby': id },
      h('div', { class: 'section-head' },
        h('h2', { id }, `Recently added in ${lib.name}`),
        h('a', { href: `/library/${lib.id}` }, `See all ${lib.item_count ?? ''}`.trim())),
      items.length
        ? h('div', { class: 'row', dataset: { row: `library-${lib.id}` } }, items.map((item) => card(item)))
        : h('p', { class: 'muted' }, lib.scanning ? 'Scanning… new items appear here as they are found.' : 'Nothing in this library yet.')));
  }
  if (!libraries.length) {
    const admin = session.user?.is_admin;
    page.append(h('div', { class: 'empty' },
      h('h2', null, 'No libraries yet'),
      h('p', null, admin ? 'Add a folder of movies or shows and Ferrite will scan it.' : 'Ask your administrator to share a library with you.'),
      admin ? h('a', { class: 'btn primary', href: '/admin?tab=libraries' }, 'Add a library') : null));
  }
}

function remaining(item) {
  const left = (item.duration_s ?? 0) - (item.progress?.position_s ?? 0);
  const label = left >= 60 ? `${Math.round(left / 60)} min left` : `${Math.max(1, Math.round(left))} s left`;
  if (item.kind === 'episode') return `S${item.season_number ?? '?'} · E${item.episode_number ?? '?'} · ${label}`;
  return label;
}
