// The create / edit key dialog. The server is the one judge of validity: as the user types, the
// form is sent with `?dry_run=true`, and each field error (`name`, `expires_at`,
// `scopes[1].resource`, `allowed_cidrs[0]`, `rate_limits[0].limit`, `quota.refill.day_of_month`,
// `public_keys[1].d`, `jwks_uri`, `federated_credentials[0].subject`, …) is shown next to its field.
// Errors appear for the fields the user has touched, and for every field once they try to save.

import { ApiError } from './api.js';
import { $, alertIn, fill, formatDateTime, fromLocalInput, h, openDialog, show, toLocalInput, utcOffset } from './dom.js';
import {
  addWorkloadRow, clearWorkloads, federationFieldset, memberLabel, renumberWorkloads, workloadField, workloadsOf,
} from './federation_rows.js';
import { api, who } from './session.js';

const ACTIONS = [
  ['read', 'read'],
  ['write', 'write'],
  ['admin', 'admin'],
  ['*', '* (any action)'],
];
const DEFAULT_CIDRS = ['0.0.0.0/0', '::/0'];
const WILDCARDS = { '0.0.0.0/0': 'IPv4', '::/0': 'IPv6' };
const DRY_RUN_DELAY_MS = 300;
/** The server's bound on rate limits per key. */
const MAX_RATE_LIMITS = 5;
/** The server's bound on public keys per key. */
const MAX_PUBLIC_KEYS = 5;
/** The window units offered, in seconds, largest first. */
const UNITS = [
  [86400, 'day'],
  [3600, 'h'],
  [60, 'min'],
  [1, 's'],
];

const dialog = $('key-dialog');
const form = $('key-form');
const scopeRows = $('scope-rows');
const cidrRows = $('cidr-rows');
const metadataRows = metadataFieldset();
const limitRows = $('limit-rows');
const publicKeyRows = $('public-key-rows');
const workloadAdd = federationFieldset($('public-keys-set'), removeButton);
/** The fields by which a key without a secret authenticates (and the box saying it has none). */
const CREDENTIAL = /^(public_keys|jwks_uri|federated_credentials|secret)\b/;

/** `{kind: 'create'}` or `{kind: 'edit', key}`. */
let mode = { kind: 'create' };
let touched = new Set();
let submitted = false;
/** Something was typed or chosen since the form opened (Escape then asks before closing). */
let dirty = false;
let dryRunTimer = 0;
let dryRunSeq = 0;
/** Row index of each request-body index (blank CIDR rows are not sent). */
let cidrIndex = [];
/** Where each request-body public key came from: its box, and its place in a box holding several. */
let publicKeyPlace = [];
/** Per box: why its text is not JSON (`''` when it is, or it is blank). */
let jwkProblems = [];
/** Public keys, JWKS URL and trusted workloads in the body last built (none: a secretless key has nothing). */
let credentialCount = 0;
/** The credential field touched last: a secretless key's "needs a credential" error is said there. */
let lastCredential = 'public_keys';
/** In an edit: the credits field as filled in, so that an unchanged field keeps the credits. */
let shownCredits = '';
let handlers = { created() {}, updated() {} };

export function initKeyForm(callbacks) {
  handlers = callbacks;
  $('scope-add').addEventListener('click', () => {
    addScopeRow({ action: 'read', resource: '' }).querySelector('select').focus();
    touch('scopes');
  });
  $('cidr-add').addEventListener('click', () => {
    addCidrRow('').querySelector('input').focus();
    touch('allowed_cidrs');
  });
  $('metadata-add').addEventListener('click', () => {
    addMetadataRow('', '').querySelector('input').focus();
    touch('metadata');
  });
  $('limit-add').addEventListener('click', () => {
    addLimitRow({}).querySelector('.limit-limit').focus();
    changed();
  });
  $('public-key-add').addEventListener('click', () => {
    addPublicKeyRow('').querySelector('textarea').focus();
    changed();
  });
  // A new row is not "touched" as a whole: its members' errors wait until each is typed in.
  workloadAdd.addEventListener('click', () => {
    const row = addWorkloadRow({});
    renumber();
    row.querySelector('input').focus();
    changed();
  });
  // Without a secret the key needs a credential: say so, next to the box, as soon as it is ticked.
  $('key-no-secret').addEventListener('change', () => touch('secret'));
  for (const id of ['quota-on', 'quota-refill-on', 'quota-refill-interval']) {
    $(id).addEventListener('change', syncQuota);
  }
  $('key-cancel').addEventListener('click', () => dialog.close('cancel'));
  // Escape on a form with something typed in asks first: one key press must not lose it.
  dialog.addEventListener('cancel', (event) => {
    if (!dirty) return;
    event.preventDefault();
    show($('key-discard'), true);
    $('key-discard-no').focus();
  });
  $('key-discard-yes').addEventListener('click', () => dialog.close('cancel'));
  $('key-discard-no').addEventListener('click', () => {
    show($('key-discard'), false);
    $('key-name').focus();
  });
  $('key-expiry-preset').addEventListener('change', () => {
    const preset = $('key-expiry-preset').value;
    if (preset === 'never') $('key-expires').value = '';
    else if (preset !== 'custom') $('key-expires').value = toLocalInput(new Date(Date.now() + Number(preset) * 86400e3).toISOString());
    syncExpiry();
    if (preset === 'custom') $('key-expires').focus();
    touch('expires_at');
  });
  $('key-expires').addEventListener('input', syncExpiry);
  form.addEventListener('input', (event) => {
    dirty = true;
    const field = event.target.dataset?.field;
    if (field) mark(field);
    changed();
  });
  form.addEventListener('change', (event) => {
    dirty = true;
    const field = event.target.dataset?.field;
    if (field) mark(field);
    changed();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    save();
  });
  dialog.addEventListener('close', () => clearTimeout(dryRunTimer));
}

export function openCreate() {
  mode = { kind: 'create' };
  reset();
  $('key-dialog-title').textContent = 'Create API key';
  $('key-submit').textContent = 'Create key';
  show($('key-edit-warning'), false);
  show($('key-edit-self'), false);
  addScopeRow({ action: 'read', resource: '' });
  for (const cidr of DEFAULT_CIDRS) addCidrRow(cidr);
  $('quota-remaining-hint').textContent = '(to start with)';
  syncQuota();
  show($('key-no-secret-field'), true);
  show($('key-secretless-note'), false);
  changed();
  openDialog(dialog, $('key-name'));
}

export function openEdit(key) {
  mode = { kind: 'edit', key };
  reset();
  $('key-dialog-title').textContent = `Edit ${key.name}`;
  $('key-submit').textContent = 'Save changes';
  show($('key-edit-warning'), true);
  show($('key-edit-self'), key.id === who()?.keyId);
  $('key-name').value = key.name;
  $('key-expires').value = toLocalInput(key.expires_at);
  $('key-expiry-preset').value = key.expires_at ? 'custom' : 'never';
  syncExpiry();
  for (const scope of key.scopes) addScopeRow(scope);
  for (const cidr of key.allowed_cidrs) addCidrRow(cidr);
  for (const [name, value] of Object.entries(key.metadata || {})) addMetadataRow(name, value);
  for (const limit of key.rate_limits || []) addLimitRow(limit);
  fillQuota(key.quota);
  for (const jwk of key.public_keys || []) addPublicKeyRow(JSON.stringify(jwk, null, 2));
  $('key-jwks-uri').value = key.jwks_uri ?? '';
  for (const credential of key.federated_credentials || []) addWorkloadRow(credential);
  renumber();
  show($('key-no-secret-field'), false);
  show($('key-secretless-note'), key.secret === false);
  changed();
  openDialog(dialog, $('key-name'));
}

function reset() {
  form.reset();
  touched = new Set();
  submitted = false;
  dryRunSeq += 1;
  scopeRows.replaceChildren();
  cidrRows.replaceChildren();
  metadataRows.replaceChildren();
  limitRows.replaceChildren();
  publicKeyRows.replaceChildren();
  clearWorkloads();
  renumber();
  lastCredential = 'public_keys';
  shownCredits = '';
  $('key-expires-hint').textContent = `(your local time, ${utcOffset()})`;
  $('key-expiry-preset').value = 'never';
  syncExpiry();
  show($('key-discard'), false);
  dirty = false;
  showErrors([]);
  alertIn($('key-form-errors'), '');
  $('key-submit').disabled = false;
}

/** The date field only for a date of one's choosing; the instant said in local time and UTC. */
function syncExpiry() {
  const preset = $('key-expiry-preset').value;
  show($('key-expires-field'), preset === 'custom');
  const iso = fromLocalInput($('key-expires').value);
  const at = iso ? new Date(iso) : null;
  $('key-expires-when').textContent = !at || Number.isNaN(at.getTime())
    ? (preset === 'never' ? 'The key never expires.' : '')
    : `Expires ${formatDateTime(at)} your time (${utcOffset()}), ${at.toISOString().slice(0, 16).replace('T', ' ')} UTC.`;
}

function touch(field) {
  mark(field);
  changed();
}

/** Notes that the user changed `field` (its errors may now show). */
function mark(field) {
  touched.add(field);
  const credential = CREDENTIAL.exec(field);
  if (credential) lastCredential = credential[1];
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

/** A row's Remove button: takes the row out, renumbers the rows, marks `field` changed, and moves
 * the focus to the next row's `selector` (or to the add button `addId` when none is left). */
function removeButton(row, field, selector, addId) {
  const remove = h('button', { type: 'button', className: 'secondary small' }, 'Remove');
  remove.addEventListener('click', () => {
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    renumber();
    touch(field);
    (next?.querySelector(selector) || $(addId)).focus();
  });
  return remove;
}

function addScopeRow(scope) {
  const row = h('li', { className: 'row scope-row' });
  const action = h('select', {}, ACTIONS.map(([value, label]) => h('option', { value }, label)));
  action.value = scope.action;
  const resource = h('input', {
    value: scope.resource === '*' ? '' : scope.resource,
    placeholder: '* (every resource)',
    autocomplete: 'off',
    spellcheck: false,
  });
  const remove = removeButton(row, 'scopes', 'select', 'scope-add');
  row.append(
    h('label', { className: 'visually-hidden' }, 'Action'), action,
    h('label', { className: 'visually-hidden' }, 'Resource filter'), resource,
    remove,
    h('p', { className: 'field-error', hidden: true }),
  );
  scopeRows.append(row);
  renumber();
  return row;
}

function addCidrRow(value) {
  const row = h('li', { className: 'row cidr-row' });
  const input = h('input', { value, placeholder: '10.0.0.0/8 or 2001:db8::/32', autocomplete: 'off', spellcheck: false });
  const remove = removeButton(row, 'allowed_cidrs', 'input', 'cidr-add');
  row.append(
    h('label', { className: 'visually-hidden' }, 'CIDR'), input,
    remove,
    h('p', { className: 'field-warning', hidden: true }),
    h('p', { className: 'field-error', hidden: true }),
  );
  cidrRows.append(row);
  renumber();
  return row;
}

/**
 * The metadata editor: key/value rows, after the CIDRs (built here, so that a key attribute
 * stays one file of the console). Values are text; a value that was not text (a number, a
 * list) is shown as JSON and kept as it was unless its text is changed.
 */
function metadataFieldset() {
  const rows = h('ol', { id: 'metadata-rows', className: 'rows' });
  $('cidr-set').after(h('fieldset', { id: 'metadata-set' },
    h('legend', {}, 'Metadata'),
    h('p', { className: 'hint', id: 'metadata-hint' },
      'Your own key/value notes (owner, customer, plan…), returned with the key, by /v1/check and by introspection; never in tokens. At most 4 KiB.'),
    rows,
    h('p', { className: 'field-error', id: 'metadata-error', hidden: true, dataset: { field: 'metadata' } }),
    h('button', { type: 'button', id: 'metadata-add', className: 'secondary' }, 'Add metadata'),
  ));
  return rows;
}

function addMetadataRow(name, value) {
  const row = h('li', { className: 'row metadata-row' });
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (typeof value !== 'string') row.dataset.original = JSON.stringify(value);
  const nameInput = h('input', { value: name, placeholder: 'name', autocomplete: 'off', spellcheck: false,
    dataset: { field: 'metadata' } });
  const valueInput = h('input', { value: text, placeholder: 'value', autocomplete: 'off', spellcheck: false,
    dataset: { field: 'metadata' } });
  const remove = removeButton(row, 'metadata', 'input', 'metadata-add');
  row.append(
    h('label', { className: 'visually-hidden' }, 'Name'), nameInput,
    h('label', { className: 'visually-hidden' }, 'Value'), valueInput,
    remove,
  );
  metadataRows.append(row);
  renumber();
  return row;
}

/** A rate-limit row: name, limit, "per", window and its unit, Remove, and the row's errors. */
function addLimitRow(limit) {
  const row = h('li', { className: 'row limit-row' });
  const [count, unit] = splitWindow(limit.window_seconds);
  const name = h('input', { className: 'limit-name', value: limit.name ?? '', placeholder: 'default',
    autocomplete: 'off', spellcheck: false });
  const max = h('input', { className: 'limit-limit', type: 'number', min: 1, step: 1, inputMode: 'numeric',
    value: limit.limit ?? '', placeholder: 'limit', autocomplete: 'off' });
  const win = h('input', { className: 'limit-window', type: 'number', min: 1, step: 1, inputMode: 'numeric',
    value: count, autocomplete: 'off' });
  const units = h('select', { className: 'limit-unit' },
    UNITS.map(([seconds, label]) => h('option', { value: seconds }, label)));
  units.value = String(unit);
  const remove = h('button', { type: 'button', className: 'secondary small' }, 'Remove');
  remove.addEventListener('click', () => {
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    renumber();
    touch('rate_limits');
    (next?.querySelector('.limit-limit') || $('limit-add')).focus();
  });
  row.append(
    h('label', { className: 'visually-hidden' }, 'Name'), name,
    h('label', { className: 'visually-hidden' }, 'Limit'), max,
    h('span', { className: 'per', 'aria-hidden': 'true' }, 'per'),
    h('label', { className: 'visually-hidden' }, 'Window'), win,
    h('label', { className: 'visually-hidden' }, 'Unit'), units,
    remove,
    h('p', { className: 'field-error', hidden: true }),
  );
  limitRows.append(row);
  renumber();
  return row;
}

/** A public-key box: a JWK as JSON (or several: a list, or a JWK Set), Remove, and its errors. */
function addPublicKeyRow(text) {
  const row = h('li', { className: 'row public-key-row' });
  const input = h('textarea', {
    value: text,
    rows: 4,
    placeholder: '{"kty": "OKP", "crv": "Ed25519", "x": "…", "kid": "…"}',
    autocomplete: 'off',
    spellcheck: false,
  });
  const remove = removeButton(row, 'public_keys', 'textarea', 'public-key-add');
  row.append(
    h('label', { className: 'visually-hidden' }, 'Public key'), input,
    remove,
    h('p', { className: 'field-error', hidden: true }),
  );
  publicKeyRows.append(row);
  renumber();
  return row;
}

/** `window_seconds` as a count of the largest unit that divides it: 120 → [2, 60]. */
function splitWindow(seconds) {
  if (!seconds) return ['1', 60];
  const [unit] = UNITS.find(([u]) => seconds % u === 0);
  return [String(seconds / unit), unit];
}

/** Shows the quota's fields when it is on, the refill's when that is on, the day for monthly. */
function syncQuota() {
  show($('quota-fields'), $('quota-on').checked);
  show($('refill-fields'), $('quota-refill-on').checked);
  show($('quota-refill-day-field'), $('quota-refill-interval').value === 'monthly');
}

/** An edit's quota fields: the credits left now, and the refill. */
function fillQuota(quota) {
  $('quota-on').checked = Boolean(quota);
  shownCredits = quota?.remaining === undefined || quota?.remaining === null ? '' : String(quota.remaining);
  $('quota-remaining').value = shownCredits;
  $('quota-remaining-hint').textContent = quota
    ? '(left now; unchanged or blank keeps them, a new number replaces them)'
    : '(to start with)';
  const refill = quota?.refill;
  $('quota-refill-on').checked = Boolean(refill);
  if (refill) {
    $('quota-refill-amount').value = refill.amount;
    $('quota-refill-interval').value = refill.interval;
    $('quota-refill-day').value = refill.day_of_month ?? '';
  }
  syncQuota();
}

/** Gives every row's controls ids, labels and error slots for its current position. */
function renumber() {
  [...scopeRows.children].forEach((row, i) => {
    const [actionLabel, action, resourceLabel, resource, remove, error] = row.children;
    action.id = `scope-${i}-action`;
    resource.id = `scope-${i}-resource`;
    error.id = `scope-${i}-error`;
    actionLabel.htmlFor = action.id;
    actionLabel.textContent = `Action of scope ${i + 1}`;
    resourceLabel.htmlFor = resource.id;
    resourceLabel.textContent = `Resource filter of scope ${i + 1}`;
    remove.setAttribute('aria-label', `Remove scope ${i + 1}`);
    action.dataset.field = `scopes[${i}].action`;
    resource.dataset.field = `scopes[${i}].resource`;
    error.dataset.field = `scopes[${i}]`;
    action.setAttribute('aria-describedby', error.id);
    resource.setAttribute('aria-describedby', error.id);
  });
  [...cidrRows.children].forEach((row, i) => {
    const [label, input, remove, warning, error] = row.children;
    input.id = `cidr-${i}`;
    warning.id = `cidr-${i}-warning`;
    error.id = `cidr-${i}-error`;
    label.htmlFor = input.id;
    label.textContent = `CIDR ${i + 1}`;
    remove.setAttribute('aria-label', `Remove CIDR ${i + 1}`);
    input.dataset.field = `allowed_cidrs[${i}]`;
    error.dataset.field = `allowed_cidrs[${i}]`;
    input.setAttribute('aria-describedby', `${warning.id} ${error.id}`);
  });
  [...metadataRows.children].forEach((row, i) => {
    const [nameLabel, name, valueLabel, value, remove] = row.children;
    name.id = `metadata-${i}-name`;
    value.id = `metadata-${i}-value`;
    nameLabel.htmlFor = name.id;
    nameLabel.textContent = `Name of metadata ${i + 1}`;
    valueLabel.htmlFor = value.id;
    valueLabel.textContent = `Value of metadata ${i + 1}`;
    remove.setAttribute('aria-label', `Remove metadata ${i + 1}`);
    name.setAttribute('aria-describedby', 'metadata-error');
    value.setAttribute('aria-describedby', 'metadata-error');
  });
  [...limitRows.children].forEach((row, i) => {
    const [nameLabel, name, limitLabel, limit, , windowLabel, win, unitLabel, unit, remove, error] = row.children;
    const n = i + 1;
    const controls = [[nameLabel, name, 'name', `Name of rate limit ${n}`],
      [limitLabel, limit, 'limit', `Limit of rate limit ${n}`],
      [windowLabel, win, 'window', `Window of rate limit ${n}`],
      [unitLabel, unit, 'unit', `Unit of the window of rate limit ${n}`]];
    error.id = `limit-${i}-error`;
    error.dataset.field = `rate_limits[${i}]`;
    for (const [label, control, part, text] of controls) {
      control.id = `limit-${i}-${part}`;
      label.htmlFor = control.id;
      label.textContent = text;
      control.setAttribute('aria-describedby', error.id);
    }
    name.dataset.field = `rate_limits[${i}].name`;
    limit.dataset.field = `rate_limits[${i}].limit`;
    win.dataset.field = `rate_limits[${i}].window_seconds`;
    unit.dataset.field = `rate_limits[${i}].window_seconds`;
    remove.setAttribute('aria-label', `Remove rate limit ${n}`);
  });
  $('limit-add').disabled = limitRows.children.length >= MAX_RATE_LIMITS;
  [...publicKeyRows.children].forEach((row, i) => {
    const [label, input, remove, error] = row.children;
    input.id = `public-key-${i}`;
    error.id = `public-key-${i}-error`;
    label.htmlFor = input.id;
    label.textContent = `Public key ${i + 1} (JWK)`;
    remove.setAttribute('aria-label', `Remove public key ${i + 1}`);
    input.dataset.field = `public_keys[${i}]`;
    error.dataset.field = `public_keys[${i}]`;
    input.setAttribute('aria-describedby', `${error.id} public-keys-hint`);
  });
  $('public-key-add').disabled = publicKeyRows.children.length >= MAX_PUBLIC_KEYS;
  renumberWorkloads();
  show($('cidr-hint'), true);
  $('cidr-hint').textContent = cidrRows.children.length
    ? 'IPv4 and IPv6 networks or single addresses; a request must come from one of them.'
    : 'No rows: the key may be used from any address.';
}

// ---------------------------------------------------------------------------------------------
// The request body
// ---------------------------------------------------------------------------------------------

function scopesOf() {
  return [...scopeRows.children].map((row) => ({
    action: row.querySelector('select').value,
    resource: row.querySelector('input').value.trim() || '*',
  }));
}

function cidrsOf() {
  const values = [];
  cidrIndex = [];
  [...cidrRows.children].forEach((row, i) => {
    const value = row.querySelector('input').value.trim();
    if (value) {
      values.push(value);
      cidrIndex.push(i);
    }
  });
  return values;
}

/** The rows as one object; rows without a name are not sent. */
function metadataOf() {
  const metadata = {};
  for (const row of metadataRows.children) {
    const [, name, , value] = row.children;
    if (!name.value.trim()) continue;
    const original = row.dataset.original;
    metadata[name.value.trim()] = original === value.value ? JSON.parse(original) : value.value;
  }
  return metadata;
}

/**
 * The pasted public keys, as the API takes them. A box holds one JWK, a list of them or a JWK Set
 * (`{"keys": […]}`); blank boxes are not sent. Text that is not JSON is sent as it is: the server
 * answers that it is not a JWK, and the box says why it could not be read.
 */
function publicKeysOf() {
  const keys = [];
  publicKeyPlace = [];
  jwkProblems = [];
  [...publicKeyRows.children].forEach((row, i) => {
    const text = row.querySelector('textarea').value.trim();
    jwkProblems[i] = '';
    if (!text) return;
    let value = text;
    try {
      value = JSON.parse(text);
    } catch (e) {
      jwkProblems[i] = e.message;
    }
    let several = [value];
    if (Array.isArray(value)) several = value;
    else if (value && typeof value === 'object' && Array.isArray(value.keys) && !('kty' in value)) several = value.keys;
    several.forEach((jwk, nth) => {
      publicKeyPlace.push({ row: i, nth, of: several.length });
      keys.push(jwk);
    });
  });
  return keys;
}

/** A number field's value: `null` when blank (the server says what is missing). */
function numberOf(input) {
  const text = input.value.trim();
  return text === '' ? null : Number(text);
}

/** The rate-limit rows, as the API takes them (a blank name is the server's `default`). */
function limitsOf() {
  return [...limitRows.children].map((row) => {
    const limit = {};
    const name = row.querySelector('.limit-name').value.trim();
    if (name) limit.name = name;
    limit.limit = numberOf(row.querySelector('.limit-limit'));
    const count = numberOf(row.querySelector('.limit-window'));
    limit.window_seconds = count === null ? null : count * Number(row.querySelector('.limit-unit').value);
    return limit;
  });
}

/** The refill as the API takes it, or `null` for none. */
function refillOf() {
  if (!$('quota-refill-on').checked) return null;
  const interval = $('quota-refill-interval').value;
  const refill = { amount: numberOf($('quota-refill-amount')), interval };
  const day = numberOf($('quota-refill-day'));
  if (interval === 'monthly' && day !== null) refill.day_of_month = day;
  return refill;
}

/** As the server shows limits: every one named. */
const named = (limits) => limits.map((l) => ({ name: l.name || 'default', limit: l.limit, window_seconds: l.window_seconds }));

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** The body of the create or update call (an update sends only what changed). */
function body() {
  const name = $('key-name').value;
  const expires = fromLocalInput($('key-expires').value);
  const scopes = scopesOf();
  const cidrs = cidrsOf();
  const metadata = metadataOf();
  const limits = limitsOf();
  const quotaOn = $('quota-on').checked;
  const jwks = publicKeysOf();
  const jwksUri = $('key-jwks-uri').value.trim();
  const workloads = workloadsOf();
  credentialCount = jwks.length + (jwksUri ? 1 : 0) + workloads.length;
  if (mode.kind === 'create') {
    const draft = { name, scopes, allowed_cidrs: cidrs };
    if (expires) draft.expires_at = expires;
    if (Object.keys(metadata).length) draft.metadata = metadata;
    if (limits.length) draft.rate_limits = limits;
    if (quotaOn) draft.quota = { remaining: numberOf($('quota-remaining')), refill: refillOf() };
    if (jwks.length) draft.public_keys = jwks;
    if (jwksUri) draft.jwks_uri = jwksUri;
    if (workloads.length) draft.federated_credentials = workloads;
    if ($('key-no-secret').checked) draft.secret = false;
    return draft;
  }
  const key = mode.key;
  const patch = {};
  if (name !== key.name) patch.name = name;
  if ($('key-expires').value !== toLocalInput(key.expires_at)) patch.expires_at = expires;
  if (!same(scopes, key.scopes)) patch.scopes = scopes;
  if (!same(cidrs, key.allowed_cidrs)) patch.allowed_cidrs = cidrs;
  if (!same(metadata, key.metadata || {})) patch.metadata = metadata;
  if (!same(named(limits), key.rate_limits || [])) patch.rate_limits = limits;
  const quota = quotaPatch(key.quota, quotaOn);
  if (quota !== undefined) patch.quota = quota;
  if (!same(jwks, key.public_keys || [])) patch.public_keys = jwks;
  if (jwksUri !== (key.jwks_uri ?? '')) patch.jwks_uri = jwksUri || null;
  if (!same(workloads, key.federated_credentials || [])) patch.federated_credentials = workloads;
  return patch;
}

/**
 * An edit's `quota`: `undefined` (unchanged), `null` (removed), or the refill with `remaining`
 * only when the credits field was changed (without it the server keeps the credits counted).
 */
function quotaPatch(current, on) {
  if (!on) return current ? null : undefined;
  const quota = {};
  const credits = $('quota-remaining').value.trim();
  if (credits !== '' && credits !== shownCredits) quota.remaining = numberOf($('quota-remaining'));
  quota.refill = refillOf();
  const changed = !current || 'remaining' in quota || !same(quota.refill, current.refill ?? null);
  return changed ? quota : undefined;
}

function endpoint(dryRun) {
  const query = dryRun ? { dry_run: 'true' } : undefined;
  return mode.kind === 'create'
    ? ['POST', '/v1/keys', query]
    : ['PATCH', `/v1/keys/${mode.key.id}`, query];
}

// ---------------------------------------------------------------------------------------------
// Validation as the user types
// ---------------------------------------------------------------------------------------------

function changed() {
  clientWarnings();
  if (mode.kind === 'edit') {
    const patch = body();
    $('key-edit-warning').classList.toggle('emphasis',
      ['scopes', 'allowed_cidrs', 'rate_limits', 'quota', 'public_keys', 'jwks_uri', 'federated_credentials']
        .some((field) => field in patch));
  }
  clearTimeout(dryRunTimer);
  dryRunTimer = setTimeout(dryRun, DRY_RUN_DELAY_MS);
}

async function dryRun() {
  const seq = ++dryRunSeq;
  const [method, path, query] = endpoint(true);
  const sent = body();
  dialog.dataset.validating = 'true';
  try {
    const result = await api(method, path, { body: sent, query });
    if (seq !== dryRunSeq) return;
    showErrors([]);
    serverWarnings(result.warnings || []);
    alertIn($('key-form-errors'), '');
  } catch (e) {
    if (seq !== dryRunSeq) return;
    reportFailure(e);
  } finally {
    if (seq === dryRunSeq) delete dialog.dataset.validating;
  }
}

async function save() {
  submitted = true;
  clearTimeout(dryRunTimer);
  const seq = ++dryRunSeq;
  const [method, path] = endpoint(false);
  const sent = body();
  if (mode.kind === 'edit' && Object.keys(sent).length === 0) {
    dialog.close('unchanged');
    return;
  }
  $('key-submit').disabled = true;
  try {
    const result = await api(method, path, { body: sent });
    if (seq !== dryRunSeq) return;
    dialog.close('saved');
    if (mode.kind === 'create') handlers.created(result);
    else handlers.updated(result);
  } catch (e) {
    if (seq !== dryRunSeq) return;
    reportFailure(e);
    const first = form.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
  } finally {
    $('key-submit').disabled = false;
  }
}

function reportFailure(e) {
  if (e instanceof ApiError && e.errors.length) {
    showErrors(e.errors);
    // A refused public key (no standing over the key) is said next to the public keys.
    const scopes = e.errors.some((x) => x.field.startsWith('scopes'));
    alertIn($('key-form-errors'), submitted && e.type === 'scope_escalation' && scopes
      ? 'You cannot grant scopes that your own key does not have.'
      : '');
  } else {
    showErrors([]);
    alertIn($('key-form-errors'), e.message);
  }
}

/** The request-body path of an error, turned into the path of the row it concerns. */
function rowField(field) {
  if (lacksCredential(field)) return lastCredential;
  const m = /^allowed_cidrs\[(\d+)\]/.exec(field);
  if (m && cidrIndex[Number(m[1])] !== undefined) return `allowed_cidrs[${cidrIndex[Number(m[1])]}]`;
  const k = /^public_keys\[(\d+)\](.*)$/.exec(field);
  if (k && publicKeyPlace[Number(k[1])]) return `public_keys[${publicKeyPlace[Number(k[1])].row}]${k[2]}`;
  return workloadField(field);
}

/**
 * Whether the error at `field` (of the request body) is the server's "a key without a secret
 * needs a public key, a jwks_uri or a federated credential": it comes at `public_keys`, but
 * belongs where the user last acted (the No secret box, a public key, the JWKS URL, a workload).
 */
function lacksCredential(field) {
  return field === 'public_keys' && credentialCount === 0;
}

function visible(field) {
  if (submitted) return true;
  for (const t of touched) {
    if (field === t || field.startsWith(`${t}[`) || field.startsWith(`${t}.`) || t.startsWith(`${field}.`)
        || t.startsWith(`${field}[`)) {
      return true;
    }
  }
  return false;
}

/** Puts each error in the slot of its field (or its row, or its group); marks the inputs. */
function showErrors(errors) {
  for (const slot of form.querySelectorAll('.field-error')) {
    slot.replaceChildren();
    slot.hidden = true;
  }
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  const unplaced = [];
  for (const error of errors) {
    const field = rowField(error.field);
    if (!visible(field)) continue;
    const slot = parents(field)
      .map((path) => form.querySelector(`.field-error[data-field="${CSS.escape(path)}"]`))
      .find(Boolean);
    if (!slot) {
      unplaced.push(`${error.field}: ${error.message}`);
      continue;
    }
    slot.append(h('span', {}, messageFor(field, error.message, error.field)));
    slot.hidden = false;
    const input = form.querySelector(`[data-field="${CSS.escape(field)}"]:not(.field-error)`)
      || slot.parentElement.querySelector('input, select, textarea');
    if (input) input.setAttribute('aria-invalid', 'true');
  }
  if (unplaced.length) alertIn($('key-form-errors'), unplaced.join('\n'));
}

/** `scopes[1].resource` → itself, `scopes[1]`, `scopes`. */
function parents(field) {
  const paths = [field];
  for (let p = field; ;) {
    const parent = p.replace(/(\.[^.[\]]+|\[\d+\])$/, '');
    if (!parent || parent === p) break;
    paths.push(parent);
    p = parent;
  }
  return paths;
}

/** The error as said next to its field; `sent` is the field's path in the request body. */
function messageFor(field, message, sent) {
  if (lacksCredential(sent)) return `${message.charAt(0).toUpperCase()}${message.slice(1)}.`;
  const workload = /^federated_credentials\[\d+\](?:\.(.+))?$/.exec(field);
  if (workload) return `${workload[1] ? memberLabel(workload[1]) ?? workload[1] : 'This workload'} ${message}.`;
  if (field === 'federated_credentials') return `Trusted workloads: ${message}.`;
  if (field === 'jwks_uri') return `JWKS URL ${message}.`;
  const jwk = /^public_keys\[(\d+)\](?:\.(.+))?$/.exec(field);
  if (jwk) {
    const place = publicKeyPlace[Number(/\[(\d+)\]/.exec(sent)[1])];
    const problem = jwkProblems[Number(jwk[1])];
    if (problem && !jwk[2]) return `Not valid JSON (${problem}): paste the public key as a JWK, a JSON object.`;
    const which = place && place.of > 1 ? `Key ${place.nth + 1} in this box: ` : '';
    return `${which}${jwk[2] ? `${jwk[2]}: ` : ''}${message}.`;
  }
  if (field === 'public_keys') return `Public keys: ${message}.`;
  if (field === 'name') return `Name ${message}.`;
  if (field === 'expires_at') return `Expiry ${message}.`;
  if (field === 'metadata') return `Metadata ${message}.`;
  if (field.endsWith('.action')) return `Action ${message}.`;
  if (field.endsWith('.resource')) return `Resource filter: ${message}.`;
  if (/^rate_limits\[\d+\]\.name$/.test(field)) return `Name ${message}.`;
  if (field.endsWith('.limit')) return `Limit ${message}.`;
  if (field.endsWith('.window_seconds')) {
    return /86400/.test(message)
      ? 'Window must be a whole number of seconds from 1 to 86,400 (1 day).'
      : `Window ${message}.`;
  }
  if (field === 'quota.remaining') return `Credits ${message}.`;
  if (field === 'quota.refill.amount') return `Refill amount ${message}.`;
  if (field === 'quota.refill.interval') return `Refill interval ${message}.`;
  if (field === 'quota.refill.day_of_month') return `Day of the month ${message}.`;
  return `${message}.`;
}

// ---------------------------------------------------------------------------------------------
// Warnings, next to their fields
// ---------------------------------------------------------------------------------------------

/**
 * Before the server has judged the form: the allow-all rows warn at once, and a URL's warning
 * (plain http) goes as soon as its URL no longer is one.
 */
function clientWarnings() {
  for (const row of cidrRows.children) {
    const value = row.querySelector('input').value.trim();
    const family = WILDCARDS[value];
    setWarning(row, family ? `${value} allows every ${family} address.` : '');
  }
  familyNote();
  for (const slot of form.querySelectorAll('[data-warning-for]')) {
    const input = form.querySelector(`[data-field="${CSS.escape(slot.dataset.warningFor)}"]:not(.field-error)`);
    if (!/^http:/i.test(input?.value.trim() ?? '')) setSlotWarning(slot, '');
  }
  listWarnings([]);
}

/** Rules of one address family only refuse every client of the other: say so under the rows. */
function familyNote() {
  const values = [...cidrRows.children].map((row) => row.querySelector('input').value.trim()).filter(Boolean);
  const v6 = values.filter((v) => v.includes(':')).length;
  let note = '';
  if (values.length && !v6) note = 'Only IPv4 networks: every client connecting over IPv6 is refused.';
  else if (values.length && v6 === values.length) note = 'Only IPv6 networks: every client connecting over IPv4 is refused.';
  alertIn($('cidr-family'), note);
}

function serverWarnings(warnings) {
  const byRow = new Map();
  const bySlot = new Map();
  const general = [];
  for (const w of warnings) {
    const field = rowField(w.field);
    const m = /^allowed_cidrs\[(\d+)\]$/.exec(field);
    const slot = form.querySelector(`[data-warning-for="${CSS.escape(field)}"]`);
    if (m) byRow.set(Number(m[1]), [...(byRow.get(Number(m[1])) || []), w.message]);
    // `http_url` says what is wrong with the URL it names: "is plain http: …".
    else if (slot) bySlot.set(slot, [...(bySlot.get(slot) || []), w.code === 'http_url' ? `this URL ${w.message}.` : w.message]);
    else if (w.code !== 'takes_effect_immediately' || mode.kind !== 'edit') general.push(w.message);
  }
  [...cidrRows.children].forEach((row, i) => setWarning(row, (byRow.get(i) || []).join(' ')));
  familyNote();
  for (const slot of form.querySelectorAll('[data-warning-for]')) setSlotWarning(slot, (bySlot.get(slot) || []).join(' '));
  listWarnings(general);
}

function setWarning(row, text) {
  setSlotWarning(row.querySelector('.field-warning'), text);
}

function setSlotWarning(slot, text) {
  slot.textContent = text ? `Warning: ${text}` : '';
  slot.hidden = !text;
}

function listWarnings(messages) {
  const list = $('key-warnings');
  fill(list, messages.map((m) => h('li', {}, m)));
  show(list, messages.length > 0);
}
