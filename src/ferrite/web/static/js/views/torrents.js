// Torrents (admins): add a magnet link or a .torrent file, watch them download, open or
// play their videos (each is a library item at once), remove them (and their data).
// The list polls GET /api/torrents every 2 s while the page is visible and updates its
// rows in place, so keyboard focus and screen readers are not disturbed by the refresh.

import { api, session } from '../api.js';
import { h, toast } from '../dom.js';
import * as fmt from '../format.js';
import { icon } from '../icons.js';

const POLL_MS = 2000;

// libtorrent's states, as people say them.
const STATES = {
  queued_for_checking: 'Queued',
  checking_files: 'Checking files',
  checking_resume_data: 'Checking files',
  downloading_metadata: 'Getting metadata',
  downloading: 'Downloading',
  allocating: 'Allocating',
  finished: 'Finished',
  seeding: 'Seeding',
};

function field(label, input, hint, hintId) {
  return h('label', { class: 'field' }, h('span', null, label), input, hint ? h('small', { id: hintId }, hint) : null);
}

function basename(path) {
  return String(path ?? '').split('/').pop();
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

export async function torrentsView(ctx) {
  document.title = 'Torrents · Ferrite';
  if (!session.user?.is_admin) {
    ctx.root.append(h('div', { class: 'error-page' }, h('h1', null, 'Admins only'), h('p', { class: 'muted' }, 'Ask an administrator to add torrents.')));
    return undefined;
  }
  const listHeading = h('h2', { id: 'torrents-h', tabindex: '-1' }, 'Torrents');
  const count = h('span', { class: 'muted', dataset: { count: '' } });
  const listError = h('div', { class: 'form-error', role: 'alert' });
  const empty = h('p', { class: 'muted', hidden: true, dataset: { empty: '' } }, 'No torrents yet. Add a magnet link or a .torrent file above.');
  const list = h('div', { class: 'torrent-list' });
  const dialog = deleteDialog();
  const rows = new Map(); // torrent id -> row

  const poll = poller(ctx.signal, async () => {
    let torrents;
    try {
      torrents = await api('/api/torrents', { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      if (listError.textContent !== err.message) listError.textContent = err.message;
      return;
    }
    listError.textContent = '';
    render(torrents);
  });

  function render(torrents) {
    const seen = new Set();
    for (const t of torrents) {
      let row = rows.get(t.id);
      if (!row) {
        row = torrentRow(t, (button) => remove(t.id, button));
        rows.set(t.id, row);
      }
      row.update(t);
      seen.add(t.id);
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) { row.el.remove(); rows.delete(id); }
    }
    const wanted = torrents.map((t) => rows.get(t.id).el);
    if (wanted.length !== list.children.length || wanted.some((el, i) => list.children[i] !== el)) list.replaceChildren(...wanted);
    empty.hidden = torrents.length > 0;
    count.textContent = torrents.length ? plural(torrents.length, 'torrent', 'torrents') : '';
  }

  async function remove(id, button) {
    const row = rows.get(id);
    const name = row?.torrent.name || 'this torrent';
    const answer = await dialog.ask(name);
    if (!answer) { button.focus(); return; }
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      await api(`/api/torrents/${id}`, { method: 'DELETE', query: { delete_data: answer.deleteData ? 'true' : 'false' } });
      toast(answer.deleteData ? `${name} and its data were deleted.` : `${name} was removed; its downloaded data stays on the server.`);
      window.dispatchEvent(new CustomEvent('ferrite:libraries-changed'));
      listHeading.focus();
      await poll.refresh();
    } catch (err) {
      if (err.name === 'AbortError') return;
      toast(err.message, { error: true });
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }

  const addForm = addTorrentForm(ctx.signal, async (added) => {
    const videos = added.files.filter((f) => f.is_video).length;
    toast(added.files.length
      ? `${added.name} added: ${plural(videos, 'video', 'videos')}, playable while it downloads.`
      : `${added.name || 'The magnet link'} added; waiting for its file list from peers.`);
    window.dispatchEvent(new CustomEvent('ferrite:libraries-changed'));
    await poll.refresh();
  });

  ctx.root.append(h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Torrents'),
      h('p', null, 'Play a video while it downloads: its files appear in the Torrents library at once.'))),
    h('div', { class: 'panel' },
      h('section', { class: 'box', 'aria-labelledby': 'add-torrent-h' }, h('h2', { id: 'add-torrent-h' }, 'Add a torrent'), addForm),
      h('section', { class: 'box', 'aria-labelledby': 'torrents-h' },
        h('div', { class: 'section-head' }, listHeading, count),
        listError, empty, list)),
    dialog.el));
  await poll.refresh();
  return poll.stop;
}

// -- adding ------------------------------------------------------------------------------
function addTorrentForm(signal, added) {
  const error = h('div', { class: 'form-error', role: 'alert', id: 'add-torrent-error' });
  const magnet = h('input', {
    class: 'input', name: 'magnet', type: 'text', inputmode: 'url', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'magnet:?xt=urn:btih:…', 'aria-describedby': 'add-torrent-error',
  });
  const file = h('input', {
    class: 'input file', name: 'torrent', type: 'file', accept: '.torrent,application/x-bittorrent',
    'aria-describedby': 'add-torrent-error',
  });
  const peers = h('input', {
    class: 'input', name: 'peers', type: 'text', autocomplete: 'off', spellcheck: 'false',
    placeholder: '203.0.113.5:6881, 198.51.100.7:51413', 'aria-describedby': 'peers-hint',
  });
  const label = h('span', null, 'Add');
  const mark = h('span', { class: 'btn-mark' }, icon('plus'));
  const submit = h('button', { class: 'btn primary', type: 'submit' }, mark, label);
  const form = h('form', { class: 'form', novalidate: true },
    h('div', { class: 'torrent-source' },
      field('Magnet link', magnet),
      h('span', { class: 'or', 'aria-hidden': 'true' }, 'or'),
      field('.torrent file', file)),
    field('Peers (optional)', peers, 'Addresses to connect to, as ip:port, comma-separated.', 'peers-hint'),
    error,
    h('div', null, submit));

  let busy = false;
  const setBusy = (on) => {
    busy = on;
    submit.disabled = on;
    if (on) submit.setAttribute('aria-busy', 'true');
    else submit.removeAttribute('aria-busy');
    form.setAttribute('aria-busy', String(on));
    label.textContent = on ? 'Adding…' : 'Add';
    mark.replaceChildren(on ? h('span', { class: 'spinner small', 'aria-hidden': 'true' }) : icon('plus'));
  };
  const clearInvalid = () => { magnet.removeAttribute('aria-invalid'); file.removeAttribute('aria-invalid'); peers.removeAttribute('aria-invalid'); };
  for (const input of [magnet, file, peers]) input.addEventListener('input', clearInvalid);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy) return;
    error.textContent = '';
    clearInvalid();
    const link = magnet.value.trim();
    const chosen = file.files?.[0] ?? null;
    if (!link && !chosen) {
      error.textContent = 'Paste a magnet link or choose a .torrent file.';
      magnet.focus();
      return;
    }
    if (link && chosen) {
      error.textContent = 'Add a magnet link or a .torrent file, not both at once: clear one of them.';
      return;
    }
    const peerList = peers.value.split(/[\s,]+/).map((p) => p.trim()).filter(Boolean);
    let body;
    if (chosen) {
      body = new FormData();
      body.append('torrent', chosen, chosen.name);
      if (peerList.length) body.append('peers', peerList.join(','));
    } else {
      body = { magnet: link, peers: peerList };
    }
    setBusy(true);
    try {
      const result = await api('/api/torrents', { method: 'POST', body, signal });
      form.reset();
      await added(result);
    } catch (err) {
      if (err.name === 'AbortError') return;
      // The server says what is wrong (400 invalid_torrent, 422 no video files, ...).
      error.textContent = err.message;
      const culprit = /\bpeer\b/i.test(err.message) && peerList.length ? peers : chosen ? file : magnet;
      culprit.setAttribute('aria-invalid', 'true');
    } finally {
      if (!signal.aborted) setBusy(false);
    }
  });
  return form;
}

// -- the list ------------------------------------------------------------------------------
function torrentRow(first, onDelete) {
  const id = first.id;
  const name = h('h3', { class: 'torrent-name', id: `torrent-${id}-name` });
  const state = h('span', { class: 'status' });
  const fillBar = h('span');
  const bar = h('div', {
    class: 'torrent-bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100',
    'aria-labelledby': `torrent-${id}-name`,
  }, fillBar);
  const percent = h('span', { class: 'torrent-percent' });
  const down = h('span');
  const up = h('span');
  const peers = h('span');
  const size = h('span');
  const eta = h('span');
  const error = h('p', { class: 'form-error' });
  const files = h('ul', { class: 'torrent-files', 'aria-label': 'Files' });
  const del = h('button', { class: 'btn small danger', type: 'button' }, icon('trash'), 'Delete');
  del.addEventListener('click', () => onDelete(del));
  const el = h('article', { class: 'torrent', dataset: { torrent: String(id) }, 'aria-labelledby': `torrent-${id}-name` },
    h('div', { class: 'torrent-head' }, h('div', { class: 'torrent-title' }, name, state), del),
    h('div', { class: 'torrent-progress' }, bar, percent),
    h('div', { class: 'torrent-stats' },
      h('span', null, h('span', { 'aria-hidden': 'true' }, '↓ '), h('span', { class: 'visually-hidden' }, 'Download '), down),
      h('span', null, h('span', { 'aria-hidden': 'true' }, '↑ '), h('span', { class: 'visually-hidden' }, 'Upload '), up),
      peers, size, eta),
    error, files);

  let filesKey = '';
  const row = {
    el,
    torrent: first,
    update(t) {
      row.torrent = t;
      const label = t.name || t.info_hash;
      if (name.textContent !== label) name.textContent = label;
      del.setAttribute('aria-label', `Delete ${label}`);
      const pct = Math.floor(Math.max(0, Math.min(1, t.progress ?? 0)) * 1000) / 10;
      const shown = pct >= 100 ? '100 %' : `${pct.toFixed(pct < 10 ? 1 : 0)} %`;
      fillBar.style.setProperty('width', `${pct}%`);
      bar.setAttribute('aria-valuenow', String(pct));
      bar.setAttribute('aria-valuetext', shown);
      percent.textContent = shown;
      el.dataset.progress = String(pct);
      el.dataset.state = t.state;
      const stateText = t.error ? 'Error' : STATES[t.state] ?? t.state;
      state.textContent = stateText;
      state.className = `status ${t.error ? 'off' : t.progress >= 1 ? 'ok' : 'busy'}`;
      down.textContent = fmt.rate(t.download_rate);
      up.textContent = fmt.rate(t.upload_rate);
      peers.textContent = `${plural(t.peers ?? 0, 'peer', 'peers')} (${plural(t.seeds ?? 0, 'seed', 'seeds')})`;
      size.textContent = t.total_size ? (t.progress >= 1 ? fmt.bytes(t.total_size) : `${fmt.bytes(t.total_size * t.progress)} of ${fmt.bytes(t.total_size)}`) : '';
      const left = t.total_size * (1 - t.progress);
      eta.textContent = t.progress < 1 && t.download_rate > 0 ? `${fmt.runtime(Math.max(1, left / t.download_rate))} left` : '';
      error.textContent = t.error ?? '';
      const key = JSON.stringify([t.has_metadata, t.files.map((f) => [f.index, f.item_id, f.probe_status])]);
      if (key !== filesKey) {
        filesKey = key;
        files.replaceChildren(...fileItems(t));
      }
    },
  };
  return row;
}

const PROBE = { pending: 'Reading its header…', failed: 'Could not be read' };

function fileItems(t) {
  if (!t.files.length) {
    return [h('li', { class: 'muted' }, t.has_metadata ? 'No files.' : 'Waiting for the file list from peers…')];
  }
  const videos = t.files.filter((f) => f.is_video);
  const others = t.files.length - videos.length;
  const items = videos.map((f) => {
    const file = basename(f.path);
    const facts = [fmt.bytes(f.size), PROBE[f.probe_status]].filter(Boolean).join(' · ');
    if (f.item_id == null) {
      return h('li', { class: 'torrent-file', dataset: { file: String(f.index) } },
        h('div', { class: 'torrent-file-name' }, h('span', null, file), h('small', { class: 'muted' }, `${facts} · Preparing…`)));
    }
    return h('li', { class: 'torrent-file', dataset: { file: String(f.index), itemId: String(f.item_id) } },
      h('div', { class: 'torrent-file-name' },
        h('a', { href: `/item/${f.item_id}`, dataset: { action: 'open' } }, file),
        facts ? h('small', { class: 'muted' }, facts) : null),
      h('a', { class: 'btn small', href: `/play/${f.item_id}?t=0`, dataset: { action: 'play' }, 'aria-label': `Play ${file}` }, icon('play'), 'Play'));
  });
  if (!videos.length) items.push(h('li', { class: 'muted' }, 'No video files.'));
  if (others) items.push(h('li', { class: 'muted' }, `and ${plural(others, 'other file', 'other files')} (not videos)`));
  return items;
}

// -- deleting ----------------------------------------------------------------------------------
function deleteDialog() {
  const title = h('h2', { id: 'delete-torrent-h' });
  const withData = h('input', { type: 'checkbox', name: 'delete-data' });
  const cancel = h('button', { class: 'btn ghost', type: 'submit', value: 'cancel', autofocus: true }, 'Cancel');
  const confirm = h('button', { class: 'btn danger', type: 'submit', value: 'delete' }, icon('trash'), 'Delete');
  const el = h('dialog', { class: 'dialog', 'aria-labelledby': 'delete-torrent-h', 'aria-describedby': 'delete-torrent-d' },
    h('form', { method: 'dialog', class: 'form' },
      title,
      h('p', { id: 'delete-torrent-d', class: 'muted' }, 'Its videos leave the library, and anyone playing one is stopped.'),
      h('label', { class: 'check' }, withData, 'Also delete the downloaded data'),
      h('div', { class: 'actions' }, cancel, confirm)));
  return {
    el,
    /** Ask; resolves to {deleteData} when confirmed, else null. */
    ask(name) {
      title.textContent = `Delete “${name}”?`;
      withData.checked = false;
      el.returnValue = '';
      el.showModal();
      cancel.focus();
      return new Promise((resolve) => {
        el.addEventListener('close', () => resolve(el.returnValue === 'delete' ? { deleteData: withData.checked } : null), { once: true });
      });
    },
  };
}

// -- polling ---------------------------------------------------------------------------------
/**
 * Run `load` now and every POLL_MS after it finishes, while the page is visible (a hidden
 * tab stops polling and refreshes at once when it shows again). `refresh()` loads now
 * (once more after a load in flight); `stop()` ends it all: no timer outlives the page.
 */
function poller(signal, load) {
  let timer = 0;
  let running = null;
  let again = false;
  let stopped = false;
  const schedule = () => {
    clearTimeout(timer);
    timer = 0;
    if (!stopped && !signal.aborted && !document.hidden) timer = setTimeout(refresh, POLL_MS);
  };
  function refresh() {
    if (stopped || signal.aborted) return Promise.resolve();
    if (running) { again = true; return running; }
    clearTimeout(timer);
    timer = 0;
    running = (async () => {
      do {
        again = false;
        try {
          await load();
        } catch (err) {
          if (err.name !== 'AbortError') console.error(err);
          return;
        }
      } while (again && !stopped && !signal.aborted);
    })().finally(() => { running = null; schedule(); });
    return running;
  }
  const onVisibility = () => {
    if (document.hidden) { clearTimeout(timer); timer = 0; } else refresh();
  };
  document.addEventListener('visibilitychange', onVisibility);
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    timer = 0;
    document.removeEventListener('visibilitychange', onVisibility);
  };
  signal.addEventListener('abort', stop, { once: true });
  return { refresh, stop };
}
