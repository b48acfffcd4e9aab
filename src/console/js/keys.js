// The Keys tab: the list (status filter, search by name, cursor pagination; each name links to
// the key's page, key_page.js) and the actions (edit, roll, revoke, usage), plus the one-time
// secret dialog after create and roll (or, for a key created without a secret, a notice saying how
// it authenticates instead: private_key_jwt, or a trusted workload's token).

import { ApiError } from './api.js';
import {
  $, ago, alertIn, announce, failure, fill, formatDateTime, h, listState, oneTimeSecret, openDialog, show, time,
} from './dom.js';
import { assertionMethods, cidrChips, scopeChips, statusBadges } from './key_chips.js';
import { initKeyForm, openCreate, openEdit } from './key_form.js';
import { initKeyPage, refreshKeyPage } from './key_page.js';
import { limitsCell } from './limits_text.js';
import { api, who } from './session.js';
import { assertionSnippets, secretSnippets, usePanel, workloadSnippets } from './use_key.js';

const list = {
  status: 'active',
  search: '',
  /** Console sessions listed too (hidden by default). */
  sessions: false,
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
      if (result.secret) showSecret(result, 'created');
      else showKeyWithoutSecret(result.key);
      loadKeys();
    },
    updated(result) {
      announce(`Key ${result.key.name} saved.`);
      loadKeys();
      refreshKeyPage();
    },
  });
  $('create-key').addEventListener('click', () => {
    show($('keys-notice'), false);
    openCreate();
  });
  $('key-status').addEventListener('change', (e) => {
    list.status = e.target.value;
    firstPage();
  });
  $('key-sessions').addEventListener('change', (e) => {
    list.sessions = e.target.checked;
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
  initKeyPage({
    edit: openEdit,
    roll: openRoll,
    revoke: openRevoke,
    usage: (key) => openUsage(key),
    changed: () => loadKeys(),
  });
}

function firstPage() {
  list.cursors = [null];
  loadKeys();
}

export async function loadKeys() {
  const seq = ++list.loading;
  const table = $('keys-table');
  table.setAttribute('aria-busy', 'true');
  if (!$('keys-body').rows.length) listState($('keys-empty'), 'loading', 'Loading keys…');
  try {
    const page = await api('GET', '/v1/keys', {
      query: {
        status: list.status,
        search: list.search,
        kind: list.sessions ? 'all' : undefined,
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
    listState($('keys-empty'), 'error', failure(e, 'list keys', 'admin over keys'));
  } finally {
    if (seq === list.loading) table.removeAttribute('aria-busy');
  }
}

function render(keys) {
  const session = who()?.sessionKeyId;
  // A refresh keeps the focus on the key it was on (a button of its row is redrawn: its link).
  const focused = document.activeElement?.closest('#keys-body tr')?.dataset.keyId;
  fill($('keys-body'), keys.map((key) => row(key, key.id === session)));
  if (focused) document.querySelector(`#keys-body tr[data-key-id="${CSS.escape(focused)}"] a`)?.focus();
  const filter = $('key-status').selectedOptions[0].textContent.toLowerCase();
  $('keys-caption').textContent = list.search
    ? `API keys (${filter}) whose name contains “${list.search}”`
    : `API keys (${filter})`;
  const none = list.search ? `No ${filter} key’s name contains “${list.search}”.` : `No ${filter} keys.`;
  listState($('keys-empty'), 'empty', keys.length ? '' : none);
  const page = list.cursors.length;
  $('keys-page').textContent = `Page ${page}`;
  $('keys-prev').disabled = page < 2;
  $('keys-next').disabled = !list.next;
}

function row(key, isSession) {
  const actions = h('div', { className: 'row-actions' });
  const label = (verb) => `${verb} ${key.name}`;
  const button = (text, verb, onclick, className = 'secondary small') =>
    h('button', { type: 'button', className, 'aria-label': label(verb), onclick }, text);
  // A console session is not edited or rolled (the server refuses): it is only ended.
  const session = key.kind === 'console_session';
  if (key.status !== 'revoked' && !session) actions.append(button('Edit', 'Edit', () => openEdit(key)));
  // A key without a secret has none to roll; the key this console session answers to is rolled
  // with its own secret only (the server refuses a session).
  const guarded = Boolean(who()?.sessionKeyId) && key.id === who()?.keyId;
  if (key.status !== 'revoked' && !session && !guarded && key.secret !== false) {
    actions.append(button('Roll', 'Roll secret of', () => openRoll(key)));
  }
  actions.append(button('Usage', 'Usage of', () => openUsage(key)));
  if (key.status !== 'revoked') actions.append(button('Revoke', 'Revoke', () => openRevoke(key), 'danger small'));
  const cell = (labelText, ...content) => h('td', { dataset: { label: labelText } }, ...content);
  return h('tr', { dataset: { keyId: key.id, status: key.status } },
    h('td', { className: 'name' },
      h('a', { href: `#keys/${encodeURIComponent(key.id)}`, 'aria-label': `${key.name}: details` }, key.name),
      session ? h('span', { className: 'badge session' }, isSession ? 'this console session' : 'console session') : null,
      h('span', { className: 'sub' }, secretText(key), ' · created ', time(key.created_at))),
    cell('Key id', h('code', {}, key.id)),
    cell('Scopes', scopeChips(key)),
    cell('Allowed IPs', cidrChips(key)),
    cell('Limits', limitsCell(key)),
    cell('Expires', time(key.expires_at, 'never')),
    cell('Last used', ago(key.last_used_at)),
    cell('Status', ...statusBadges(key)),
    cell('Actions', actions),
  );
}

/** How the key authenticates, briefly: its secret's hint, private_key_jwt, federation, or several. */
function secretText(key) {
  const others = assertionMethods(key).join(' or ');
  if (key.secret === false) return `${others} only, no secret`;
  return [h('code', {}, key.secret_hint), others ? ` or ${others}` : ''];
}

/** After creating a key without a secret: no secret to show; how the key authenticates instead. */
function showKeyWithoutSecret(key) {
  const kids = (key.public_keys || []).map((k) => k.kid);
  const dismiss = h('button', { type: 'button', className: 'link', onclick: () => show($('keys-notice'), false) }, 'Dismiss');
  fill($('keys-notice'),
    'Key ', h('strong', {}, key.name), ' (', h('code', { id: 'keys-notice-id' }, key.id), ') was created with no secret: ',
    'it authenticates with ', waysWithoutSecret(key, kids), '. There is no secret to copy. ',
    dismiss,
    useWithoutSecret(key, kids));
  show($('keys-notice'), true);
}

/** How a client of a key without a secret gets a token: with its private key, or its workload's token. */
function useWithoutSecret(key, kids) {
  if (kids.length) {
    return usePanel('notice', key.id, assertionSnippets(key.id, kids[0]),
      'Sign a short-lived assertion with the private key, then ask for an access token:');
  }
  const workload = (key.federated_credentials || [])[0];
  if (workload) {
    return usePanel('notice', key.id, workloadSnippets(key.id, workload),
      'Send the token the workload got from its issuer as the client assertion:');
  }
  return null;
}

/** The ways a key without a secret authenticates, as a phrase: "private_key_jwt, …, or …". */
function waysWithoutSecret(key, kids) {
  const ways = [];
  if (kids.length) {
    ways.push(['private_key_jwt, a client assertion signed by the private key of ',
      kids.length === 1 ? 'its public key ' : 'one of its public keys ',
      kids.flatMap((kid, i) => [i ? ', ' : '', h('code', {}, kid)])]);
  }
  if (key.jwks_uri) ways.push(['private_key_jwt with a key published at ', h('code', {}, key.jwks_uri)]);
  const issuers = [...new Set((key.federated_credentials || []).map((c) => c.issuer))];
  if (issuers.length) {
    ways.push(['the token a trusted workload gets from ',
      issuers.flatMap((issuer, i) => [i ? ' or ' : '', h('code', {}, issuer)]), ', with the key id as client_id']);
  }
  return ways.flatMap((way, i) => [i ? ', or ' : '', way]).flat(Infinity);
}

// ---------------------------------------------------------------------------------------------
// The one-time secret
// ---------------------------------------------------------------------------------------------

let secretDialog = null;

function initSecretDialog() {
  secretDialog = oneTimeSecret({
    dialog: 'secret-dialog',
    value: 'secret-value',
    copy: 'secret-copy',
    copied: 'secret-copied',
    ack: 'secret-ack',
    close: 'secret-close',
  }, 'create-key');
}

function showSecret(result, what) {
  $('secret-title').textContent = what === 'rolled' ? 'Copy the new secret now' : 'Copy the secret now';
  $('secret-key-name').textContent = result.key.name;
  $('secret-key-id').textContent = result.key.id;
  const grace = result.key.previous_secret_expires_at;
  $('secret-grace').textContent = what === 'rolled'
    ? (grace ? `The previous secret keeps working until ${formatDateTime(new Date(grace))}.` : 'The previous secret no longer works.')
    : '';
  show($('secret-grace'), what === 'rolled');
  fill($('secret-use'), usePanel('secret', result.key.id, secretSnippets(result.key.id),
    ['Put the secret in ', h('code', {}, 'LATCHKEY_SECRET'), ' (from your secret manager), then ask for an access token:']));
  secretDialog.open(result.secret);
}

// ---------------------------------------------------------------------------------------------
// Revoke and roll
// ---------------------------------------------------------------------------------------------

let target = null;

function openRevoke(key) {
  target = key;
  $('revoke-key-name').textContent = key.name;
  $('revoke-key-id').textContent = key.id;
  const me = who();
  alertIn($('revoke-self-warning'), key.id === me?.keyId
    ? 'You are signed in with this key: revoking it ends this console session at once.'
    : key.id === me?.sessionKeyId ? 'This is this console’s own session key: revoking it signs you out.' : '');
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
      refreshKeyPage();
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
  alertIn($('roll-expired-warning'), key.status === 'expired'
    ? `This key expired ${formatDateTime(new Date(key.expires_at))}: a new secret does not make it work again. Edit its expiry first.`
    : key.id === who()?.keyId ? 'You are signed in with this key: rolling its secret ends this console session (its session ends with the secret it began with). Sign in again with the new secret.' : '');
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
      refreshKeyPage();
    } catch (err) {
      const grace = err instanceof ApiError && err.errors.find((x) => x.field === 'grace_seconds');
      alertIn($('roll-grace-error'), grace ? grace.message : '');
      alertIn($('roll-error'), grace ? '' : err.message);
    } finally {
      $('roll-confirm').disabled = false;
    }
  });
}
