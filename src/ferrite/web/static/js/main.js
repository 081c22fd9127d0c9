// Boot: first-run setup check, session check, then the router takes over.

import { api, ensureImageToken, session } from './api.js';
import { mountShell } from './components/shell.js';
import { guard, navigate, route, start } from './router.js';
import { adminView } from './views/admin.js';
import { loginView, setupView } from './views/auth.js';
import { homeView } from './views/home.js';
import { itemView } from './views/item.js';
import { libraryView } from './views/library.js';
import { playerView } from './views/player.js';
import { searchView } from './views/search.js';
import { torrentsView } from './views/torrents.js';

let setupDone = false;
let checkedToken = null; // the token /api/auth/me last accepted (re-checked after a new login)

guard(async (path) => {
  if (!setupDone) {
    try {
      const state = await api('/api/setup', { auth: false });
      setupDone = !state.needed;
    } catch { /* the server will tell us below */ }
    if (!setupDone && path !== '/setup') return '/setup';
  }
  if (path === '/setup' || path === '/login') return null;
  const token = session.token;
  if (!token) return `/login?next=${encodeURIComponent(path + location.search)}`;
  if (checkedToken !== token) {
    try {
      session.setUser(await api('/api/auth/me'));
    } catch (err) {
      if (err.status === 401) return `/login?next=${encodeURIComponent(path + location.search)}`;
      throw err;
    }
    checkedToken = token;
    await ensureImageToken();
    await mountShell();
  } else {
    await ensureImageToken();
  }
  return null;
});

window.addEventListener('ferrite:unauthorized', () => {
  checkedToken = null;
  if (location.pathname !== '/login') navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
});

route('/setup', setupView, { layout: 'bare' });
route('/login', loginView, { layout: 'bare' });
route('/', homeView);
route('/library/:id', libraryView);
route('/item/:id', itemView);
route('/search', searchView);
route('/admin', adminView);
route('/torrents', torrentsView);
route('/play/:id', playerView, { layout: 'player' });

start(document.getElementById('main'));
