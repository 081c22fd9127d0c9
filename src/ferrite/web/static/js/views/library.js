// A library: a grid of posters, sorted, loaded page by page as you scroll.

import { api } from '../api.js';
import { card } from '../components/poster.js';
import { h, spinner } from '../dom.js';
import { setQuery } from '../router.js';

const PAGE = 60;
// (The API's `year` is newest first; `-year` reverses it.)
const SORTS = [['title', 'Title'], ['-added', 'Recently added'], ['year', 'Newest'], ['-year', 'Oldest']];

export async function libraryView(ctx) {
  const id = Number(ctx.params.id);
  const lib = await api(`/api/libraries/${id}`, { signal: ctx.signal });
  document.title = `${lib.name} · Ferrite`;
  let sort = SORTS.some(([k]) => k === ctx.query.get('sort')) ? ctx.query.get('sort') : 'title';
  const count = h('p', null, '');
  const select = h('select', { class: 'select', 'aria-label': 'Sort by' },
    SORTS.map(([value, label]) => h('option', { value, selected: value === sort }, label)));
  const grid = h('div', { class: 'grid', dataset: { grid: 'library' } });
  const more = h('div', { class: 'more' });
  ctx.root.append(h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, lib.name), count), h('label', null, select)),
    grid, more));

  let offset = 0;
  let total = Infinity;
  let loading = null;
  let generation = 0;
  async function loadMore() {
    if (loading || offset >= total) return loading;
    const gen = generation;
    more.replaceChildren(spinner('Loading more'));
    loading = api('/api/items', { signal: ctx.signal, query: { library_id: id, sort, limit: PAGE, offset } })
      .then((page) => {
        if (gen !== generation) return;
        total = page.total;
        offset += page.items.length;
        grid.append(...page.items.map((item) => card(item)));
        count.textContent = `${total} ${total === 1 ? 'title' : 'titles'}`;
        if (!total) grid.replaceWith(h('div', { class: 'empty' }, h('h2', null, 'Nothing here yet'), h('p', null, lib.scanning ? 'A scan is running; titles appear as they are found.' : 'This library has no titles. An admin can rescan it.')));
      })
      .finally(() => { loading = null; more.replaceChildren(); });
    return loading;
  }
  select.addEventListener('change', () => {
    sort = select.value;
    setQuery({ sort: sort === 'title' ? null : sort });
    generation += 1;
    offset = 0;
    total = Infinity;
    grid.replaceChildren();
    loading = null;
    loadMore();
  });
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  }, { rootMargin: '800px 0px' });
  observer.observe(more);
  await loadMore();
  return () => observer.disconnect();
}
