// The HTTP API (docs/api.md): one fetch wrapper, the login session, image tokens.

const SESSION_KEY = 'ferrite.session';
const IMAGE_KEY = 'ferrite.imageToken';

/** An API error, from the server's envelope {"error": {code, message, status}}. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function readJson(key) {
  try { return JSON.parse(localStorage.getItem(key) ?? 'null'); } catch { return null; }
}

/** The logged-in user: {token, user, expires_at} kept in localStorage. */
export const session = {
  get current() { return readJson(SESSION_KEY); },
  get token() { return this.current?.token ?? null; },
  get user() { return this.current?.user ?? null; },
  save(login) {
    const expiresAt = Date.now() / 1000 + (login.expires_in ?? 0);
    localStorage.setItem(SESSION_KEY, JSON.stringify({ token: login.access_token, user: login.user, expires_at: expiresAt }));
  },
  setUser(user) {
    const cur = this.current;
    if (cur) localStorage.setItem(SESSION_KEY, JSON.stringify({ ...cur, user }));
  },
  clear() {
    localStorage.removeItem(SESSION_KEY);
    localStorage.removeItem(IMAGE_KEY);
    imageToken = null;
  },
};

/**
 * Call the API. Resolves to the parsed JSON body (null for 204); rejects with ApiError.
 * `body` is sent as JSON, or as multipart when it is a FormData.
 * A 401 on an authenticated call clears the session and fires `ferrite:unauthorized`.
 */
export async function api(path, { method = 'GET', body, signal, auth = true, keepalive = false, query } = {}) {
  const headers = { accept: 'application/json' };
  // A FormData body (file uploads) goes as multipart; the browser sets its boundary.
  const form = typeof FormData !== 'undefined' && body instanceof FormData;
  if (body !== undefined && !form) headers['content-type'] = 'application/json';
  const token = auth ? session.token : null;
  if (token) headers.authorization = `Bearer ${token}`;
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, v);
    const qs = params.toString();
    if (qs) url += (url.includes('?') ? '&' : '?') + qs;
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body: body === undefined || form ? body : JSON.stringify(body), signal, keepalive, credentials: 'same-origin' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'Cannot reach the Ferrite server. Check your connection.');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const e = data?.error ?? {};
    const error = new ApiError(res.status, e.code ?? `http_${res.status}`, e.message ?? (res.statusText || 'Request failed'), e.details);
    if (res.status === 401 && token) {
      session.clear();
      window.dispatchEvent(new CustomEvent('ferrite:unauthorized'));
    }
    throw error;
  }
  return data;
}

// -- image tokens (for <img src>: browsers send no Authorization header with images) ------
let imageToken = readJson(IMAGE_KEY);
let pending = null;
const REFRESH_BEFORE_S = 12 * 3600;

/** Make sure a fresh image token is at hand (call before rendering artwork). */
export async function ensureImageToken() {
  const now = Date.now() / 1000;
  if (imageToken && imageToken.expires_at - now > REFRESH_BEFORE_S) return imageToken.token;
  pending ??= api('/api/image-token')
    .then((tok) => {
      imageToken = tok;
      localStorage.setItem(IMAGE_KEY, JSON.stringify(tok));
      return tok.token;
    })
    .catch(() => null) // no artwork is not worth an error: placeholders show instead
    .finally(() => { pending = null; });
  return pending;
}

/** The <img> URL for an item's artwork, or null (draw a placeholder). */
export function artworkSrc(item) {
  if (!item?.artwork_url) return null;
  if (!imageToken) return null;
  const sep = item.artwork_url.includes('?') ? '&' : '?';
  return `${item.artwork_url}${sep}token=${encodeURIComponent(imageToken.token)}`;
}
