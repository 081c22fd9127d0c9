// Administration: users (create, disable, library access), libraries (create, rescan)
// and scans (what is scanning now, when each library was last scanned).

import { api, session } from '../api.js';
import { h, toast } from '../dom.js';
import { relativeTime } from '../format.js';
import { icon } from '../icons.js';
import { setQuery } from '../router.js';

const TABS = [['users', 'Users'], ['libraries', 'Libraries'], ['scans', 'Scans']];

export async function adminView(ctx) {
  document.title = 'Administration · Ferrite';
  if (!session.user?.is_admin) {
    ctx.root.append(h('div', { class: 'error-page' }, h('h1', null, 'Admins only'), h('p', { class: 'muted' }, 'Ask an administrator for access.')));
    return;
  }
  const welcome = ctx.query.get('welcome');
  let tab = TABS.some(([k]) => k === ctx.query.get('tab')) ? ctx.query.get('tab') : (welcome ? 'libraries' : 'users');
  const panel = h('div', { class: 'panel', role: 'tabpanel', id: 'admin-panel' });
  const tabButtons = TABS.map(([key, label]) => h('button', {
    type: 'button', role: 'tab', id: `tab-${key}`, 'aria-controls': 'admin-panel',
    'aria-selected': String(key === tab), tabindex: key === tab ? '0' : '-1', dataset: { tab: key },
  }, label));
  const tablist = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Administration sections' }, tabButtons);
  tablist.addEventListener('click', (e) => {
    const btn = e.target.closest('[role="tab"]');
    if (btn) select(btn.dataset.tab);
  });
  tablist.addEventListener('keydown', (e) => {
    const i = TABS.findIndex(([k]) => k === tab);
    const delta = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!delta) return;
    e.preventDefault();
    select(TABS[(i + delta + TABS.length) % TABS.length][0]);
    tablist.querySelector('[aria-selected="true"]').focus();
  });

  const page = h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Administration'),
      welcome ? h('p', null, 'Your account is ready. Add a library: a folder of movies or shows on this server.') : null)),
    tablist, panel);
  ctx.root.append(page);

  let stop = null;
  async function select(key) {
    tab = key;
    setQuery({ tab: key, welcome: null });
    for (const b of tabButtons) {
      const on = b.dataset.tab === key;
      b.setAttribute('aria-selected', String(on));
      b.tabIndex = on ? 0 : -1;
    }
    panel.setAttribute('aria-labelledby', `tab-${key}`);
    stop?.();
    stop = null;
    panel.replaceChildren();
    const view = { users: usersPanel, libraries: librariesPanel, scans: scansPanel }[key];
    stop = await view(panel, ctx.signal);
  }
  await select(tab);
  return () => stop?.();
}

function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', null, label), input, hint ? h('small', null, hint) : null);
}

// -- users ---------------------------------------------------------------------------------
async function usersPanel(panel, signal) {
  const [users, libraries] = await Promise.all([api('/api/users', { signal }), api('/api/libraries', { signal })]);
  const me = session.user;
  const tbody = h('tbody');
  const render = () => tbody.replaceChildren(...users.map((u) => userRow(u, libraries, me, users, render)));
  render();
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'User'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Library access'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
    tbody));

  const error = h('div', { class: 'form-error', role: 'alert' });
  const username = h('input', { class: 'input', name: 'new-username', required: true, maxlength: '64', autocomplete: 'off' });
  const password = h('input', { class: 'input', name: 'new-password', type: 'password', required: true, autocomplete: 'new-password' });
  const isAdmin = h('input', { type: 'checkbox', name: 'new-admin' });
  const grants = libraryChecks(libraries, [], 'new-lib');
  const form = h('form', { class: 'form', novalidate: true },
    h('div', { class: 'form-row' }, field('Username', username), field('Password', password)),
    h('fieldset', { class: 'field' }, h('legend', { class: 'visually-hidden' }, 'Libraries'), h('span', null, 'Libraries'), grants.el),
    h('label', { class: 'check' }, isAdmin, 'Administrator (sees every library, manages the server)'),
    error,
    h('div', null, h('button', { class: 'btn primary', type: 'submit' }, icon('plus'), 'Add user')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    if (!username.value.trim() || !password.value) { error.textContent = 'A new user needs a username and a password.'; return; }
    try {
      const created = await api('/api/users', { method: 'POST', body: { username: username.value.trim(), password: password.value, is_admin: isAdmin.checked, library_ids: grants.value() } });
      users.push(created);
      render();
      form.reset();
      toast(`${created.username} can now sign in.`);
    } catch (err) {
      error.textContent = err.message;
    }
  });
  panel.append(
    h('section', { class: 'box', 'aria-labelledby': 'users-h' }, h('h2', { id: 'users-h' }, 'Users'), table),
    h('section', { class: 'box', 'aria-labelledby': 'new-user-h' }, h('h2', { id: 'new-user-h' }, 'Add a user'), form));
}

function libraryChecks(libraries, selected, name) {
  const boxes = libraries.map((lib) => h('input', { type: 'checkbox', name, value: String(lib.id), checked: selected.includes(lib.id) }));
  const el = h('div', { class: 'checks' }, libraries.length
    ? libraries.map((lib, i) => h('label', { class: 'check' }, boxes[i], lib.name))
    : h('span', { class: 'muted' }, 'No libraries yet'));
  return { el, boxes, value: () => boxes.filter((b) => b.checked).map((b) => Number(b.value)) };
}

function userRow(user, libraries, me, users, rerender) {
  const self = user.id === me?.id;
  const status = h('span', { class: user.disabled ? 'status off' : 'status ok' }, user.disabled ? 'Disabled' : 'Active');
  const toggle = h('button', { class: 'btn small ghost', type: 'button', disabled: self, 'aria-label': `${user.disabled ? 'Enable' : 'Disable'} ${user.username}` }, user.disabled ? 'Enable' : 'Disable');
  toggle.addEventListener('click', async () => {
    toggle.disabled = true;
    try {
      Object.assign(user, await api(`/api/users/${user.id}`, { method: 'PATCH', body: { disabled: !user.disabled } }));
      rerender();
    } catch (err) {
      toast(err.message, { error: true });
      toggle.disabled = false;
    }
  });
  let access;
  if (user.is_admin) {
    access = h('span', { class: 'muted' }, 'All libraries (administrator)');
  } else {
    const checks = libraryChecks(libraries, user.library_ids ?? [], `lib-${user.id}`);
    checks.boxes.forEach((box) => box.setAttribute('aria-label', `${user.username} may see ${box.parentElement?.textContent ?? 'library'}`));
    checks.el.addEventListener('change', async () => {
      try {
        Object.assign(user, await api(`/api/users/${user.id}`, { method: 'PATCH', body: { library_ids: checks.value() } }));
        toast(`Library access for ${user.username} saved.`);
      } catch (err) {
        toast(err.message, { error: true });
        rerender();
      }
    });
    access = checks.el;
  }
  const remove = h('button', { class: 'btn small danger', type: 'button', disabled: self, 'aria-label': `Delete ${user.username}` }, 'Delete');
  remove.addEventListener('click', async () => {
    if (!window.confirm(`Delete ${user.username}? Their watch progress is deleted too.`)) return;
    try {
      await api(`/api/users/${user.id}`, { method: 'DELETE' });
      users.splice(users.indexOf(user), 1);
      rerender();
    } catch (err) {
      toast(err.message, { error: true });
    }
  });
  return h('tr', { dataset: { user: user.username } },
    h('td', null, h('strong', null, user.username), self ? h('span', { class: 'muted' }, ' (you)') : null, user.is_admin ? h('div', { class: 'muted' }, 'Administrator') : null),
    h('td', null, status),
    h('td', null, access),
    h('td', null, h('div', { class: 'actions' }, toggle, remove)));
}

// -- libraries -------------------------------------------------------------------------------
const KINDS = [['movies', 'Movies'], ['shows', 'Shows'], ['mixed', 'Mixed']];

async function librariesPanel(panel, signal) {
  const list = h('div', { class: 'lib-list' });
  const poll = poller(list, signal, (libs) => libs.map((lib) => libraryRow(lib, () => poll.refresh())));

  const error = h('div', { class: 'form-error', role: 'alert' });
  const name = h('input', { class: 'input', name: 'library-name', required: true, maxlength: '200', placeholder: 'Movies' });
  const kind = h('select', { class: 'select', name: 'library-kind' }, KINDS.map(([v, l]) => h('option', { value: v }, l)));
  const paths = h('textarea', { class: 'textarea', name: 'library-paths', required: true, placeholder: '/srv/media/Movies', spellcheck: 'false' });
  const form = h('form', { class: 'form', novalidate: true },
    h('div', { class: 'form-row' }, field('Name', name), field('Kind', kind)),
    field('Folders on the server', paths, 'Absolute paths, one per line. Ferrite scans them now and watches them for changes.'),
    error,
    h('div', null, h('button', { class: 'btn primary', type: 'submit' }, icon('plus'), 'Add library')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const folders = paths.value.split('\n').map((p) => p.trim()).filter(Boolean);
    if (!name.value.trim() || !folders.length) { error.textContent = 'A library needs a name and at least one folder.'; return; }
    try {
      const lib = await api('/api/libraries', { method: 'POST', body: { name: name.value.trim(), kind: kind.value, paths: folders } });
      form.reset();
      toast(`${lib.name} added; scanning.`);
      window.dispatchEvent(new CustomEvent('ferrite:libraries-changed'));
      await poll.refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  panel.append(
    h('section', { class: 'box', 'aria-labelledby': 'libs-h' }, h('h2', { id: 'libs-h' }, 'Libraries'), list),
    h('section', { class: 'box', 'aria-labelledby': 'new-lib-h' }, h('h2', { id: 'new-lib-h' }, 'Add a library'), form));
  await poll.refresh();
  return poll.stop;
}

function scanState(lib) {
  return lib.scanning
    ? h('span', { class: 'status busy', dataset: { scan: 'running' } }, 'Scanning…')
    : h('span', { class: 'status ok', dataset: { scan: 'idle' } }, lib.scanned_at ? `Scanned ${relativeTime(lib.scanned_at)}` : 'Not scanned yet');
}

function rescanButton(lib, after) {
  const btn = h('button', { class: 'btn small', type: 'button', disabled: lib.scanning, 'aria-label': `Rescan ${lib.name}` }, icon('refresh'), 'Rescan');
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      await api(`/api/libraries/${lib.id}/scan`, { method: 'POST' });
      toast(`Rescanning ${lib.name}.`);
    } catch (err) {
      toast(err.message, { error: true });
    }
    await after();
  });
  return btn;
}

function libraryRow(lib, after) {
  return h('div', { class: 'lib', dataset: { library: lib.name } },
    h('div', null,
      h('strong', null, lib.name),
      h('div', { class: 'lib-meta' },
        h('span', null, KINDS.find(([k]) => k === lib.kind)?.[1] ?? lib.kind),
        h('span', null, `${lib.item_count} ${lib.item_count === 1 ? 'title' : 'titles'}`),
        scanState(lib)),
      h('div', null, (lib.paths ?? []).map((p) => h('div', null, h('code', null, p))))),
    rescanButton(lib, after));
}

/** Re-render `target` from GET /api/libraries; every 2 s while a scan runs. */
function poller(target, signal, render) {
  let timer = 0;
  let stopped = false;
  let wasScanning = false;
  async function refresh() {
    clearTimeout(timer);
    if (stopped || signal.aborted) return;
    let libs;
    try {
      libs = await api('/api/libraries', { signal });
    } catch (err) {
      if (err.name !== 'AbortError') toast(err.message, { error: true });
      return;
    }
    if (stopped) return;
    const scanning = libs.some((l) => l.scanning);
    target.replaceChildren(...(libs.length ? render(libs) : [h('p', { class: 'muted' }, 'No libraries yet. Add one below.')]));
    if (wasScanning && !scanning) window.dispatchEvent(new CustomEvent('ferrite:libraries-changed'));
    wasScanning = scanning;
    if (scanning && !document.hidden) timer = setTimeout(refresh, 2000);
    else if (scanning) timer = setTimeout(refresh, 10000);
  }
  const stop = () => { stopped = true; clearTimeout(timer); };
  return { refresh, stop };
}

// -- scans ------------------------------------------------------------------------------------
async function scansPanel(panel, signal) {
  const tbody = h('tbody');
  const scanAll = h('button', { class: 'btn small', type: 'button' }, icon('refresh'), 'Scan all libraries');
  const poll = poller(tbody, signal, (libs) => libs.map((lib) => h('tr', { dataset: { library: lib.name } },
    h('th', { scope: 'row' }, lib.name),
    h('td', null, scanState(lib)),
    h('td', null, String(lib.item_count)),
    h('td', null, rescanButton(lib, () => poll.refresh())))));
  scanAll.addEventListener('click', async () => {
    scanAll.disabled = true;
    try {
      const libs = await api('/api/libraries', { signal });
      await Promise.all(libs.map((l) => api(`/api/libraries/${l.id}/scan`, { method: 'POST' })));
      toast('Scanning every library.');
    } catch (err) {
      toast(err.message, { error: true });
    }
    scanAll.disabled = false;
    await poll.refresh();
  });
  panel.append(h('section', { class: 'box', 'aria-labelledby': 'scans-h' },
    h('div', { class: 'section-head' }, h('h2', { id: 'scans-h' }, 'Scans'), scanAll),
    h('p', { class: 'muted' }, 'Scans are incremental: only new and changed files are probed. Folders are also watched, so most changes appear without a manual scan.'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Library'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Titles'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      tbody))));
  await poll.refresh();
  return poll.stop;
}
