// The Keys tab: the list (status filter, search by name, cursor pagination) and the row actions
// (details, edit, roll, revoke, usage), plus the one-time secret dialog after create and roll (or,
// for a key created without a secret, a notice that it authenticates with private_key_jwt).
// The details view shows how a key authenticates, its limits and quota, and adds or sets its credits.

import { ApiError } from './api.js';
import { $, ago, alertIn, announce, fill, h, oneTimeSecret, openDialog, show, time } from './dom.js';
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
      if (result.secret) showSecret(result, 'created');
      else showKeyWithoutSecret(result.key);
      loadKeys();
    },
    updated(result) {
      announce(`Key ${result.key.name} saved.`);
      loadKeys();
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
  initKeyView();
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
  actions.append(h('button', { type: 'button', className: 'secondary small', 'aria-label': label('Details of'), onclick: () => openKeyView(key) }, 'Details'));
  if (key.status !== 'revoked') {
    actions.append(h('button', { type: 'button', className: 'secondary small', 'aria-label': label('Edit'), onclick: () => openEdit(key) }, 'Edit'));
  }
  // Rolling the session's own key would strand the secret the console renews with; a key
  // without a secret has none to roll.
  if (key.status !== 'revoked' && !isSession && key.secret !== false) {
    actions.append(h('button', { type: 'button', className: 'secondary small', 'aria-label': label('Roll secret of'), onclick: () => openRoll(key) }, 'Roll'));
  }
  actions.append(h('button', { type: 'button', className: 'secondary small', 'aria-label': label('Usage of'), onclick: () => openUsage(key) }, 'Usage'));
  if (key.status !== 'revoked') {
    actions.append(h('button', { type: 'button', className: 'danger small', 'aria-label': label('Revoke'), onclick: () => openRevoke(key) }, 'Revoke'));
  }
  return h('tr', { dataset: { keyId: key.id, status: key.status } },
    h('td', { className: 'name' }, key.name, isSession ? h('span', { className: 'badge session' }, 'this console session') : null),
    h('td', {}, h('code', {}, key.id)),
    h('td', {}, scopeChips(key)),
    h('td', {}, cidrChips(key)),
    h('td', {}, authChips(key)),
    h('td', {}, limitsCell(key)),
    h('td', {}, time(key.expires_at, 'never')),
    h('td', {}, ago(key.last_used_at)),
    h('td', {}, h('span', { className: `badge ${key.status}` }, STATUS_TEXT[key.status] || key.status), leakedBadge(key)),
    h('td', {}, actions),
  );
}

/** A key whose secret was reported leaked and only flagged (the org's leak policy is notify). */
function leakedBadge(key) {
  if (!key.leaked_at || key.status === 'revoked') return null;
  return h('span', { className: 'badge leaked', title: `Reported leaked ${new Date(key.leaked_at).toISOString()}: roll or revoke it` }, 'Leaked');
}

const scopeChips = (key) => h('ul', { className: 'chips' },
  key.scopes.map((s) => h('li', {}, h('code', {}, `${s.action}:${s.resource}`))));

const cidrChips = (key) => (key.allowed_cidrs.length
  ? h('ul', { className: 'chips' }, key.allowed_cidrs.map((c) => h('li', {}, h('code', {}, c))))
  : h('span', { className: 'muted' }, 'any address'));

/** How the key authenticates: its secret, private_key_jwt with its public keys, or both. */
function authChips(key) {
  const jwks = key.public_keys || [];
  return h('ul', { className: 'chips' },
    h('li', {}, key.secret === false ? h('span', { className: 'muted' }, 'no secret') : 'secret'),
    jwks.length ? h('li', {}, h('span', { className: 'badge jwt', title: jwks.map((k) => k.kid).join(', ') },
      `private_key_jwt (${jwks.length} ${jwks.length === 1 ? 'key' : 'keys'})`)) : null);
}

/** `Ed25519`, `P-256`, `RSA 2048`, with the algorithm when the JWK pins one. */
function jwkKind(jwk) {
  let kind = jwk.kty;
  if (jwk.kty === 'OKP' || jwk.kty === 'EC') kind = jwk.crv;
  if (jwk.kty === 'RSA') kind = `RSA ${Math.floor((jwk.n.length * 3) / 4) * 8}`;
  return jwk.alg ? `${kind}, ${jwk.alg} only` : kind;
}

/** After creating a key without a secret: no secret to show; how the key authenticates instead. */
function showKeyWithoutSecret(key) {
  const kids = (key.public_keys || []).map((k) => k.kid);
  const dismiss = h('button', { type: 'button', className: 'link', onclick: () => show($('keys-notice'), false) }, 'Dismiss');
  fill($('keys-notice'),
    'Key ', h('strong', {}, key.name), ' (', h('code', { id: 'keys-notice-id' }, key.id), ') was created with no secret: ',
    'it authenticates with private_key_jwt, a client assertion signed by the private key of ',
    kids.length === 1 ? 'its public key ' : 'one of its public keys ',
    kids.flatMap((kid, i) => [i ? ', ' : '', h('code', {}, kid)]), '. There is no secret to copy.',
    dismiss);
  show($('keys-notice'), true);
}

// ---------------------------------------------------------------------------------------------
// Limits and quota, as text
// ---------------------------------------------------------------------------------------------

const numbers = new Intl.NumberFormat();
const count = (n) => numbers.format(n);
const UNITS = [[86400, 'day', 'day'], [3600, 'h', 'hour'], [60, 'min', 'minute'], [1, 's', 'second']];

/** 60 → "min", 120 → "2 min", 90 → "90 s": for the list. */
function shortWindow(seconds) {
  const [unit, short] = UNITS.find(([u]) => seconds % u === 0);
  return seconds === unit ? short : `${count(seconds / unit)} ${short}`;
}

/** 60 → "1 minute", 7200 → "2 hours". */
function longWindow(seconds) {
  const [unit, , long] = UNITS.find(([u]) => seconds % u === 0);
  const n = seconds / unit;
  return `${count(n)} ${long}${n === 1 ? '' : 's'}`;
}

const credits = (n) => `${count(n)} ${n === 1 ? 'credit' : 'credits'}`;

/** "Back to 1,000 credits monthly, on day 15 at 00:00 UTC". */
function refillText(refill) {
  if (refill.interval === 'daily') return `Back to ${credits(refill.amount)} every day at 00:00 UTC`;
  const day = refill.day_of_month ?? 1;
  return `Back to ${credits(refill.amount)} monthly, on day ${day} at 00:00 UTC`
    + (day > 28 ? ' (in a shorter month: on its last day)' : '');
}

/** The next refill after now, in UTC, as `Refill.next_after` computes it. */
function nextRefill(refill, now = new Date()) {
  const midnight = (y, m, d) => new Date(Date.UTC(y, m, d));
  if (refill.interval === 'daily') {
    return midnight(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  }
  const day = Math.min(Math.max(refill.day_of_month ?? 1, 1), 31);
  for (let y = now.getUTCFullYear(), m = now.getUTCMonth(); ; m += 1) {
    const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
    const at = midnight(y, m, Math.min(day, last));
    if (at > now) return at;
  }
}

/** The list's Limits cell: the credits left, then each rate limit compactly. */
function limitsCell(key) {
  const limits = key.rate_limits || [];
  if (!limits.length && !key.quota) return h('span', { className: 'muted' }, 'unlimited');
  return h('ul', { className: 'chips' },
    key.quota ? h('li', {}, h('span', {
      className: `badge credits${key.quota.remaining === 0 ? ' empty-credits' : ''}`,
      title: key.quota.refill ? refillText(key.quota.refill) : 'no refill',
    }, credits(key.quota.remaining ?? 0))) : null,
    limits.map((l) => h('li', {}, h('code', { title: `${l.name}: ${count(l.limit)} per ${longWindow(l.window_seconds)}` },
      `${l.name === 'default' ? '' : `${l.name} `}${count(l.limit)}/${shortWindow(l.window_seconds)}`))));
}

// ---------------------------------------------------------------------------------------------
// The details view, and the credits
// ---------------------------------------------------------------------------------------------

/** The key the view shows (as last fetched), and the sequence of its loads. */
let viewed = null;
let viewSeq = 0;

function initKeyView() {
  const dialog = $('key-view-dialog');
  $('key-view-close').addEventListener('click', () => dialog.close('close'));
  $('key-view-edit').addEventListener('click', () => {
    const key = viewed;
    dialog.close('edit');
    openEdit(key);
  });
  dialog.addEventListener('close', () => { viewSeq += 1; });
  $('credits-form').addEventListener('submit', (e) => {
    e.preventDefault();
    changeCredits('add');
  });
  $('credits-set').addEventListener('click', () => {
    const amount = creditsAmount();
    if (amount === null) return;
    $('credits-confirm-explain').textContent = `${viewed.name} will have ${credits(amount)} left: `
      + `this replaces the ${credits(viewed.quota?.remaining ?? 0)} left now (it does not add to them), `
      + 'and credits that nodes hold for this key from before are void.';
    openDialog($('credits-confirm-dialog'), $('credits-confirm-cancel'));
  });
  const confirm = $('credits-confirm-dialog');
  $('credits-confirm-cancel').addEventListener('click', () => confirm.close('cancel'));
  $('credits-confirm-form').addEventListener('submit', (e) => {
    e.preventDefault();
    confirm.close('confirmed');
    changeCredits('set');
  });
}

async function openKeyView(key) {
  const seq = ++viewSeq;
  renderKeyView(key);
  $('credits-amount').value = '';
  creditsError('', '');
  openDialog($('key-view-dialog'), $('key-view-close'));
  // The list may be a while old: the credits as counted now.
  try {
    const fresh = await api('GET', `/v1/keys/${key.id}`);
    if (seq === viewSeq) renderKeyView(fresh);
  } catch (e) {
    if (seq === viewSeq) creditsError('', `The key could not be reloaded: ${e.message}`);
  }
}

function renderKeyView(key) {
  viewed = key;
  $('key-view-title').textContent = `Key ${key.name}`;
  const fact = (term, ...value) => h('div', {}, h('dt', {}, term), h('dd', {}, ...value));
  const metadata = Object.entries(key.metadata || {});
  const jwks = key.public_keys || [];
  fill($('key-view-facts'),
    fact('Key id', h('code', {}, key.id)),
    fact('Status', h('span', { className: `badge ${key.status}` }, STATUS_TEXT[key.status] || key.status), leakedBadge(key)),
    key.leaked_at && key.status !== 'revoked'
      ? fact('Reported leaked', time(key.leaked_at), h('p', { className: 'field-warning' }, 'Its secret is public: roll it now, or revoke the key.'))
      : null,
    fact('Scopes', scopeChips(key)),
    fact('Allowed IPs', cidrChips(key)),
    fact('Authentication', key.secret === false
      ? 'private_key_jwt only (no secret)'
      : ['Secret ', h('code', {}, key.secret_hint), jwks.length ? ' or private_key_jwt' : '']),
    jwks.length ? fact('Public keys (private_key_jwt)', h('ul', { className: 'plain' },
      jwks.map((k) => h('li', { dataset: { kid: k.kid } }, h('code', {}, k.kid), ` (${jwkKind(k)})`)))) : null,
    fact('Expires', time(key.expires_at, 'never')),
    fact('Last used', ago(key.last_used_at)),
    metadata.length ? fact('Metadata', h('ul', { className: 'chips' }, metadata.map(([k, v]) =>
      h('li', {}, h('code', {}, `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`))))) : null);
  const limits = key.rate_limits || [];
  fill($('key-view-limits'), limits.length
    ? h('ul', { className: 'plain' }, limits.map((l) => h('li', { dataset: { name: l.name } },
      h('code', {}, l.name), `: ${count(l.limit)} per ${longWindow(l.window_seconds)}`)))
    : h('span', { className: 'muted' }, 'none'));
  const quota = key.quota;
  show($('key-view-quota'), Boolean(quota));
  show($('key-view-refill-row'), Boolean(quota));
  show($('key-view-no-quota'), !quota);
  show($('credits-form'), Boolean(quota) && key.status !== 'revoked');
  show($('key-view-edit'), key.status !== 'revoked');
  if (!quota) return;
  $('key-view-credits').textContent = count(quota.remaining ?? 0);
  fill($('key-view-refill'), quota.refill
    ? [refillText(quota.refill), h('br'), h('span', { className: 'hint' }, 'Next: ', time(nextRefill(quota.refill).toISOString()))]
    : h('span', { className: 'muted' }, 'none: credits come back only when added or set'));
}

/** The amount typed, or `null` after saying what is wrong with it. */
function creditsAmount() {
  const text = $('credits-amount').value.trim();
  if (text === '') {
    creditsError('Enter a number of credits.', '');
    $('credits-amount').focus();
    return null;
  }
  creditsError('', '');
  return Number(text);
}

function creditsError(field, general) {
  alertIn($('credits-amount-error'), field);
  if (field) $('credits-amount').setAttribute('aria-invalid', 'true');
  else $('credits-amount').removeAttribute('aria-invalid');
  alertIn($('credits-error'), general);
}

/** `POST /v1/keys/{id}/quota` with `{add: n}` or `{set: n}`; shows the credits left after. */
async function changeCredits(how) {
  const key = viewed;
  const amount = creditsAmount();
  if (amount === null) return;
  const seq = ++viewSeq;
  const buttons = [$('credits-add'), $('credits-set')];
  for (const b of buttons) b.disabled = true;
  try {
    const result = await api('POST', `/v1/keys/${key.id}/quota`, { body: { [how]: amount } });
    announce(`${key.name} has ${credits(result.remaining)} left.`);
    loadKeys();
    if (seq !== viewSeq) return;
    viewed = { ...key, quota: { ...key.quota, remaining: result.remaining } };
    renderKeyView(viewed);
    $('credits-amount').value = '';
  } catch (e) {
    if (seq !== viewSeq) return;
    const field = e instanceof ApiError && e.errors.find((x) => x.field === how || x.field === 'add');
    creditsError(field ? `Credits ${field.message}.` : '', field ? '' : e.message);
    if (field) $('credits-amount').focus();
  } finally {
    for (const b of buttons) b.disabled = false;
  }
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
    ? (grace ? `The previous secret keeps working until ${new Date(grace).toLocaleString()}.` : 'The previous secret no longer works.')
    : '';
  show($('secret-grace'), what === 'rolled');
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
