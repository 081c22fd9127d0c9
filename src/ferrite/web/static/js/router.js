// A small History-API router. Views are `async (ctx) => cleanup?`, where ctx holds the
// route params, the query, the element to render into and an AbortSignal that fires when
// the user leaves the page (so pending requests and timers stop).

const routes = [];
const guards = [];
let outlet = null;
let current = null; // {cleanup, controller}
let renderId = 0;

export function route(pattern, view, options = {}) {
  const keys = [];
  const source = pattern
    .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    .replace(/\/:(\w+)/g, (_, key) => { keys.push(key); return '/([^/]+)'; });
  routes.push({ regex: new RegExp(`^${source}/?$`), keys, view, options });
}

/** A guard runs before every render: return a URL to redirect to, or nothing. */
export function guard(fn) { guards.push(fn); }

export function navigate(url, { replace = false, state = null } = {}) {
  if (replace) history.replaceState(state, '', url);
  else history.pushState(state, '', url);
  return render();
}

/** Update the query string of the current page without re-rendering. */
export function setQuery(params) {
  const url = new URL(location.href);
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '') url.searchParams.delete(k);
    else url.searchParams.set(k, v);
  }
  history.replaceState(history.state, '', url);
}

export function start(root) {
  outlet = root;
  window.addEventListener('popstate', () => render());
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const a = event.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download') || a.dataset.external !== undefined) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/static/')) return;
    event.preventDefault();
    if (url.href === location.href) return;
    navigate(url.pathname + url.search + url.hash);
  });
  return render();
}

export async function render() {
  const id = ++renderId;
  if (current) {
    current.controller.abort();
    try { await current.cleanup?.(); } catch (err) { console.error(err); }
    current = null;
  }
  if (id !== renderId) return;
  const path = location.pathname;
  for (const g of guards) {
    const redirect = await g(path);
    if (id !== renderId) return;
    if (redirect && redirect !== path + location.search) {
      history.replaceState(null, '', redirect);
      return render();
    }
  }
  let match = null;
  let found = null;
  for (const r of routes) {
    match = r.regex.exec(path);
    if (match) { found = r; break; }
  }
  const controller = new AbortController();
  current = { controller, cleanup: null };
  const ctx = {
    params: found ? Object.fromEntries(found.keys.map((k, i) => [k, decodeURIComponent(match[i + 1])])) : {},
    query: new URLSearchParams(location.search),
    signal: controller.signal,
    root: outlet,
    path,
  };
  document.body.dataset.layout = found?.options.layout ?? 'app';
  window.dispatchEvent(new CustomEvent('ferrite:navigate', { detail: { path } }));
  outlet.replaceChildren();
  window.scrollTo(0, 0);
  try {
    const view = found ? found.view : notFound;
    const cleanup = await view(ctx);
    if (current?.controller === controller) current.cleanup = cleanup;
    else await cleanup?.();
  } catch (err) {
    if (err?.name === 'AbortError' || controller.signal.aborted) return;
    console.error(err);
    showError(err);
  }
  if (id === renderId) {
    // Move focus to the new page for keyboard and screen-reader users.
    // (Not while the user types in the top bar's search box, which outlives pages.)
    const heading = outlet.querySelector('h1');
    const typing = document.activeElement?.matches?.('input, textarea, select');
    if (heading && !typing && !outlet.contains(document.activeElement)) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  }
}

function errorView(title, message) {
  const wrap = document.createElement('div');
  wrap.className = 'error-page';
  const h = document.createElement('h1');
  h.textContent = title;
  const p = document.createElement('p');
  p.className = 'muted';
  p.textContent = message;
  const a = document.createElement('a');
  a.href = '/';
  a.className = 'btn';
  a.textContent = 'Go home';
  wrap.append(h, p, a);
  return wrap;
}

function notFound(ctx) {
  document.title = 'Not found · Ferrite';
  ctx.root.append(errorView('Nothing here', 'This page does not exist.'));
}

function showError(err) {
  const title = err?.status === 404 ? 'Not found' : 'Something went wrong';
  outlet.replaceChildren(errorView(title, err?.message ?? String(err)));
}
