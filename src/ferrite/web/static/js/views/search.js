// Search: results as you type (the top bar's box drives it; debounced there).

import { api } from '../api.js';
import { card } from '../components/poster.js';
import { searchInput } from '../components/shell.js';
import { h } from '../dom.js';

export async function searchView(ctx) {
  const heading = h('h1', null, 'Search');
  const status = h('p', { role: 'status', 'aria-live': 'polite' });
  const grid = h('div', { class: 'grid', dataset: { grid: 'search' } });
  ctx.root.append(h('div', { class: 'page' }, h('div', { class: 'page-head' }, h('div', null, heading, status)), grid));
  const input = searchInput();
  let controller = null;
  let seq = 0;

  async function run(q) {
    q = q.trim();
    document.title = q ? `“${q}” · Ferrite` : 'Search · Ferrite';
    controller?.abort();
    if (!q) { grid.replaceChildren(); status.textContent = 'Type to search titles, shows and episodes.'; return; }
    controller = new AbortController();
    const signal = AbortSignal.any ? AbortSignal.any([controller.signal, ctx.signal]) : controller.signal;
    const mine = ++seq;
    status.textContent = 'Searching…';
    try {
      const page = await api('/api/items', { signal, query: { q, limit: 60 } });
      if (mine !== seq) return; // a newer query already answered
      grid.replaceChildren(...page.items.map((item) => card(item, { sub: describe(item) })));
      status.textContent = page.total ? `${page.total} ${page.total === 1 ? 'result' : 'results'} for “${q}”` : `Nothing found for “${q}”.`;
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.textContent = err.message;
    }
  }

  const onSearch = (e) => run(e.detail.q);
  window.addEventListener('ferrite:search', onSearch);
  const q = ctx.query.get('q') ?? '';
  if (input && input.value !== q && document.activeElement !== input) input.value = q;
  if (input && !q) input.focus();
  await run(input && document.activeElement === input ? input.value : q);
  return () => { window.removeEventListener('ferrite:search', onSearch); controller?.abort(); };
}

function describe(item) {
  const kind = { movie: 'Movie', show: 'Series', season: 'Season', episode: 'Episode' }[item.kind] ?? item.kind;
  if (item.kind === 'episode') return `Episode · S${item.season_number ?? '?'}E${item.episode_number ?? '?'}`;
  return [kind, item.year].filter(Boolean).join(' · ');
}
