// First-run setup (create the admin) and login.

import { api, ApiError, session } from '../api.js';
import { h } from '../dom.js';
import { logo } from '../icons.js';
import { navigate } from '../router.js';

function card(title, lead, form) {
  return h('div', { class: 'auth' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'brand' }, logo(), h('span', null, 'Ferrite')),
      h('div', null, h('h1', null, title), lead ? h('p', { class: 'lead' }, lead) : null),
      form));
}

function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', null, label), input, hint ? h('small', null, hint) : null);
}

function message(err) {
  if (err instanceof ApiError) {
    if (err.status === 429) return 'Too many attempts. Wait a few minutes and try again.';
    if (err.code === 'invalid_credentials') return 'Wrong username or password.';
    return err.message;
  }
  return String(err?.message ?? err);
}

async function login(username, password) {
  const result = await api('/api/auth/login', { method: 'POST', body: { username, password }, auth: false });
  session.save(result);
  return result;
}

export async function setupView(ctx) {
  document.title = 'Welcome · Ferrite';
  const state = await api('/api/setup', { auth: false, signal: ctx.signal });
  if (!state.needed) return navigate('/login', { replace: true });
  const error = h('div', { class: 'form-error', role: 'alert' });
  const username = h('input', { class: 'input', name: 'username', autocomplete: 'username', required: true, maxlength: '64', value: 'admin' });
  const password = h('input', { class: 'input', name: 'password', type: 'password', autocomplete: 'new-password', required: true });
  const confirm = h('input', { class: 'input', name: 'confirm', type: 'password', autocomplete: 'new-password', required: true });
  const submit = h('button', { class: 'btn primary', type: 'submit' }, 'Create account');
  const form = h('form', { class: 'form', novalidate: true },
    field('Username', username),
    field('Password', password, 'Use a long passphrase: this account can change everything.'),
    field('Confirm password', confirm),
    error, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    if (!username.value.trim() || !password.value) { error.textContent = 'Choose a username and a password.'; return; }
    if (password.value !== confirm.value) { error.textContent = 'The passwords do not match.'; confirm.focus(); return; }
    submit.disabled = true;
    try {
      await api('/api/setup', { method: 'POST', body: { username: username.value.trim(), password: password.value }, auth: false });
      await login(username.value.trim(), password.value);
      navigate('/admin?welcome=1', { replace: true });
    } catch (err) {
      error.textContent = message(err);
      submit.disabled = false;
    }
  });
  ctx.root.append(card('Welcome to Ferrite', 'Create the administrator account to get started.', form));
  username.select();
  username.focus();
}

export async function loginView(ctx) {
  document.title = 'Sign in · Ferrite';
  if (session.token) return navigate(ctx.query.get('next') || '/', { replace: true });
  const error = h('div', { class: 'form-error', role: 'alert' });
  const username = h('input', { class: 'input', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none' });
  const password = h('input', { class: 'input', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { class: 'btn primary', type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'form', novalidate: true }, field('Username', username), field('Password', password), error, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    if (!username.value.trim() || !password.value) { error.textContent = 'Enter your username and password.'; return; }
    submit.disabled = true;
    try {
      await login(username.value.trim(), password.value);
      const next = ctx.query.get('next');
      navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
    } catch (err) {
      error.textContent = message(err);
      submit.disabled = false;
      password.select();
    }
  });
  ctx.root.append(card('Sign in', null, form));
  username.focus();
}
