// The top bar: brand, libraries, search as you type, the user menu.

import { api, session } from '../api.js';
import { debounce, h } from '../dom.js';
import { icon, logo } from '../icons.js';
import { navigate, setQuery } from '../router.js';

let bar = null;
let nav = null;
let input = null;
let libraries = [];
let listening = false;

export function searchInput() { return input; }

export async function mountShell() {
  bar = document.getElementById('topbar');
  bar.hidden = false;
  nav = h('nav', { class: 'nav', 'aria-label': 'Main' });
  input = h('input', {
    type: 'search', name: 'q', placeholder: 'Search movies and shows', autocomplete: 'off',
    'aria-label': 'Search movies and shows', spellcheck: 'false', enterkeyhint: 'search',
  });
  // Results as you type: the search page listens for `ferrite:search`; elsewhere the
  // first keystrokes open it (the input keeps focus: it lives outside the page).
  const search = (q) => {
    if (location.pathname === '/search') {
      setQuery({ q });
      window.dispatchEvent(new CustomEvent('ferrite:search', { detail: { q } }));
    } else if (q.trim()) {
      navigate(`/search?q=${encodeURIComponent(q)}`);
    }
  };
  const searchSoon = debounce(search, 250);
  input.addEventListener('input', () => searchSoon(input.value));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { searchSoon.cancel(); search(input.value); }
    if (e.key === 'Escape') { searchSoon.cancel(); input.value = ''; input.blur(); }
  });
  const form = h('form', { class: 'search-box', role: 'search', onsubmit: (e) => e.preventDefault() }, icon('search'), input);

  const menu = h('div', { class: 'popover', hidden: true, id: 'user-popover' });
  const avatar = h('button', { class: 'avatar', type: 'button', 'aria-haspopup': 'true', 'aria-expanded': 'false', 'aria-controls': 'user-popover' });
  const toggle = (open) => {
    menu.hidden = !open;
    avatar.setAttribute('aria-expanded', String(open));
    if (open) menu.querySelector('button, a')?.focus();
  };
  avatar.addEventListener('click', () => toggle(menu.hidden));
  document.addEventListener('click', (e) => { if (!menu.hidden && !e.target.closest('.user-menu')) toggle(false); });
  menu.addEventListener('keydown', (e) => { if (e.key === 'Escape') { toggle(false); avatar.focus(); } });
  menu.addEventListener('click', (e) => { if (e.target.closest('a')) toggle(false); });

  bar.replaceChildren(
    h('a', { class: 'brand', href: '/', 'aria-label': 'Ferrite home' }, logo(), h('span', null, 'Ferrite')),
    nav, form, h('div', { class: 'user-menu' }, avatar, menu),
  );
  renderUser(avatar, menu);
  if (!listening) {
    listening = true;
    window.addEventListener('ferrite:navigate', highlight);
    window.addEventListener('ferrite:libraries-changed', refreshLibraries);
  }
  await refreshLibraries();
}

function renderUser(avatar, menu) {
  const user = session.user ?? { username: '?' };
  avatar.textContent = [...user.username][0] ?? '?';
  avatar.setAttribute('aria-label', `Account: ${user.username}`);
  menu.replaceChildren(
    h('div', { class: 'who' }, h('strong', null, user.username), h('small', null, user.is_admin ? 'Administrator' : 'Member')),
    user.is_admin ? h('a', { class: 'menu-item', href: '/admin' }, icon('admin'), 'Administration') : null,
    h('button', { class: 'menu-item', type: 'button', onclick: logout }, icon('logout'), 'Sign out'),
  );
}

async function logout() {
  try { await api('/api/auth/logout', { method: 'POST' }); } catch { /* signed out locally anyway */ }
  session.clear();
  navigate('/login', { replace: true });
}

export async function refreshLibraries() {
  try {
    libraries = await api('/api/libraries');
  } catch {
    libraries = [];
  }
  nav.replaceChildren(
    h('a', { href: '/' }, 'Home'),
    ...libraries.map((lib) => h('a', { href: `/library/${lib.id}` }, lib.name)),
    // Admins add and manage torrents on "Downloads" (the "Torrents" library, once it
    // exists, lists their videos like any library).
    ...(session.user?.is_admin
      ? [h('a', { href: '/torrents', class: 'nav-tool' }, icon('download'), 'Downloads')]
      : []),
  );
  highlight();
}

export function knownLibraries() { return libraries; }

function highlight() {
  if (!nav) return;
  const path = location.pathname;
  for (const a of nav.querySelectorAll('a')) {
    const href = a.getAttribute('href');
    if (href === path) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (input && path !== '/search' && document.activeElement !== input) input.value = '';
}

