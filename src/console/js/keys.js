// The Keys tab: the list (status filter, search by name, cursor pagination) and the row actions
// (edit, roll, revoke, usage), plus the one-time secret dialog after create and roll.

import { ApiError } from './api.js';
import { $, ago, alertIn, announce, fill, h, openDialog, show, time } from './dom.js';
import { initKeyForm, openCreate, openEdit } from './key_form.js';
import { api, who } from './session.js';

const list = {
  status: 'active',
  search: '',
  limit: 25,
  /** Cursor of each page shown so far (`null` for the first). */
  cursors: [null],
  next: null,
  loading: 0,
};
let openUsage = () => {};
let searchTimer = 0;

export function initKeys({ onUsage }) {
  openUsage = onUsage;
  initKeyForm({
    created(result) {
      announce(`Key ${result.key.name} created.`);
      showSecret(result, 'created');
      loadKeys();
    },
    updated(result) {
      announce(`Key ${result.key.name} saved.`);
      loadKeys();
    },
  });
  $('create-key').addEventListener('click', openCreate);
  $('key-status').addEventListener('change', (e) => {
    list.status = e.target.value;
    firstPage();
  });
  $('key-page-size').addEventListener('change', (e) => {
    list.limit = Number(e.target.value);
    firstPage();
  });
  $('key-search').addEventListener('input', (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      list.search = e.target.value.trim();
      firstPage();
    }, 250);
  });
  $('keys-next').addEventListener('click', () => {
    if (!list.next) return;
    list.cursors.push(list.next);
    loadKeys();
  });
  $('keys-prev').addEventListener('click', () => {
    if (list.cursors.length < 2) return;
    list.cursors.pop();
    loadKeys();
  });
  initSecretDialog();
  initRevokeDialog();
  initRollDialog();
}

function firstPage() {
  list.cursors = [null];
  loadKeys();
}

export async function loadKeys() {
  const seq = ++list.loading;
  const table = $('keys-table');
  table.setAttribute('aria-busy', 'true');
  try {
    const page = await api('GET', '/v1/keys', {
      query: {
        status: list.status,
        search: list.search,
        limit: list.limit,
        cursor: list.cursors[list.cursors.length - 1],
      },
    });
    if (seq !== list.loading) return;
    list.next = page.next_cursor;
    render(page.keys);
  } catch (e) {
    if (seq !== list.loading) return;
    fill($('keys-body'));
    alertIn($('keys-empty'), `The keys could not be loaded: ${e.message}`);
  } finally {
    if (seq === list.loading) table.removeAttribute('aria-busy');
  }
}

const STATUS_TEXT = { active: 'Active', expired: 'Expired', revoked: 'Revoked' };

function render(keys) {
  const session = who()?.sessionKeyId;
  fill($('keys-body'), keys.map((key) => row(key, key.id === session)));
  const filter = $('key-status').selectedOptions[0].textContent.toLowerCase();
  $('keys-caption').textContent = list.search
    ? `API keys (${filter}) whose name contains “${list.search}”`
    : `API keys (${filter})`;
  alertIn($('keys-empty'), keys.length ? '' : 'No keys match.');
  const page = list.cursors.length;
  $('keys-page').textContent = `Page ${page}`;
  $('keys-prev').disabled = page < 2;
  $('keys-next').disabled = !list.next;
}

function row(key, isSession) {
  const actions = h('div', { className: 'row-actions' });
  const label = (verb) => `${verb} ${key.name}`;
  if (key.status !== 'revoked') {
    actions.append(h('button', { type: 'button', className: 'secondary small', 'aria-label': label('Edit'), onclick: () => openEdit(key) }, 'Edit'));
  }
  // Rolling the session's own key would strand the secret the console renews with.
  if (key.status !== 'revoked' && !isSession) {
    actions.append(h('button', { type: 'button', className: 'secondary small', 'aria-label': label('Roll secret of'), onclick: () => openRoll(key) }, 'Roll'));
  }
  actions.append(h('button', { type: 'button', className: 'secondary small', 'aria-label': label('Usage of'), onclick: () => openUsage(key) }, 'Usage'));
  if (key.status !== 'revoked') {
    actions.append(h('button', { type: 'button', className: 'danger small', 'aria-label': label('Revoke'), onclick: () => openRevoke(key) }, 'Revoke'));
  }
  return h('tr', { dataset: { keyId: key.id, status: key.status } },
    h('td', { className: 'name' }, key.name, isSession ? h('span', { className: 'badge session' }, 'this console session') : null),
    h('td', {}, h('code', {}, key.id)),
    h('td', {}, h('ul', { className: 'chips' }, key.scopes.map((s) => h('li', {}, h('code', {}, `${s.action}:${s.resource}`))))),
    h('td', {}, key.allowed_cidrs.length
      ? h('ul', { className: 'chips' }, key.allowed_cidrs.map((c) => h('li', {}, h('code', {}, c))))
      : h('span', { className: 'muted' }, 'any address')),
    h('td', {}, time(key.expires_at, 'never')),
    h('td', {}, ago(key.last_used_at)),
    h('td', {}, h('span', { className: `badge ${key.status}` }, STATUS_TEXT[key.status] || key.status)),
    h('td', {}, actions),
  );
}

// ---------------------------------------------------------------------------------------------
// The one-time secret
// ---------------------------------------------------------------------------------------------

function initSecretDialog() {
  const dialog = $('secret-dialog');
  const ack = $('secret-ack');
  const close = $('secret-close');
  ack.addEventListener('change', () => { close.disabled = !ack.checked; });
  // Escape must not close it before the box is ticked.
  dialog.addEventListener('cancel', (e) => {
    if (!ack.checked) {
      e.preventDefault();
      $('secret-copied').textContent = 'Tick “I have copied this secret” first: it cannot be shown again.';
    }
  });
  dialog.addEventListener('close', () => {
    if (!ack.checked) {
      // Some browsers close on a second Escape whatever `cancel` says: open it again.
      dialog.showModal();
      ack.focus();
      return;
    }
    // Gone for good: nothing in the page holds the secret any more.
    $('secret-value').value = '';
    $('secret-copied').textContent = '';
    const opener = dialog.opener;
    dialog.opener = null;
    if (opener?.isConnected) opener.focus();
    else $('create-key').focus();
  });
  $('secret-copy').addEventListener('click', async () => {
    const input = $('secret-value');
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select();
      document.execCommand('copy');
    }
    $('secret-copied').textContent = 'Copied to the clipboard.';
  });
}

function showSecret(result, what) {
  const dialog = $('secret-dialog');
  dialog.opener = document.activeElement;
  $('secret-title').textContent = what === 'rolled' ? 'Copy the new secret now' : 'Copy the secret now';
  $('secret-key-name').textContent = result.key.name;
  $('secret-key-id').textContent = result.key.id;
  $('secret-value').value = result.secret;
  $('secret-ack').checked = false;
  $('secret-close').disabled = true;
  $('secret-copied').textContent = '';
  const grace = result.key.previous_secret_expires_at;
  $('secret-grace').textContent = what === 'rolled'
    ? (grace ? `The previous secret keeps working until ${new Date(grace).toLocaleString()}.` : 'The previous secret no longer works.')
    : '';
  show($('secret-grace'), what === 'rolled');
  dialog.showModal();
  $('secret-copy').focus();
}

// ---------------------------------------------------------------------------------------------
// Revoke and roll
// ---------------------------------------------------------------------------------------------

let target = null;

function openRevoke(key) {
  target = key;
  $('revoke-key-name').textContent = key.name;
  $('revoke-key-id').textContent = key.id;
  alertIn($('revoke-error'), '');
  openDialog($('revoke-dialog'), $('revoke-cancel'));
}

function initRevokeDialog() {
  const dialog = $('revoke-dialog');
  $('revoke-cancel').addEventListener('click', () => dialog.close('cancel'));
  $('revoke-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = target;
    $('revoke-confirm').disabled = true;
    try {
      await api('POST', `/v1/keys/${key.id}/revoke`);
      dialog.close('revoked');
      announce(`Key ${key.name} revoked.`);
      loadKeys();
    } catch (err) {
      alertIn($('revoke-error'), err.message);
    } finally {
      $('revoke-confirm').disabled = false;
    }
  });
}

function openRoll(key) {
  target = key;
  $('roll-key-name').textContent = key.name;
  $('roll-key-id').textContent = key.id;
  $('roll-grace').value = '0';
  alertIn($('roll-error'), '');
  alertIn($('roll-grace-error'), '');
  openDialog($('roll-dialog'), $('roll-grace'));
}

function initRollDialog() {
  const dialog = $('roll-dialog');
  $('roll-cancel').addEventListener('click', () => dialog.close('cancel'));
  $('roll-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = target;
    $('roll-confirm').disabled = true;
    try {
      const rolled = await api('POST', `/v1/keys/${key.id}/roll`, {
        body: { grace_seconds: Number($('roll-grace').value) },
      });
      dialog.close('rolled');
      announce(`Secret of ${key.name} rolled.`);
      showSecret(rolled, 'rolled');
      loadKeys();
    } catch (err) {
      const grace = err instanceof ApiError && err.errors.find((x) => x.field === 'grace_seconds');
      alertIn($('roll-grace-error'), grace ? grace.message : '');
      alertIn($('roll-error'), grace ? '' : err.message);
    } finally {
      $('roll-confirm').disabled = false;
    }
  });
}
