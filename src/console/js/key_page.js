// A key's own page (`#keys/<id>` in the Keys tab): everything about it — how it authenticates
// (its secret, public keys, JWKS URL, trusted workloads), its scopes, addresses, expiry, metadata, limits and credits left, its last 24 hours — with its
// actions. The list links to it; the browser's Back returns to the list.

import { ApiError } from './api.js';
import { $, ago, alertIn, announce, fill, h, openDialog, show, time } from './dom.js';
import { cidrChips, jwkKind, scopeChips, statusBadges } from './key_chips.js';
import { count, credits, longWindow, nextRefill, refillText } from './limits_text.js';
import { api, who } from './session.js';

/** The key the page shows (as last fetched), and the sequence of its loads. */
let viewed = null;
let viewSeq = 0;
/** What the page's buttons do (the list's dialogs), and what to do after a change here. */
let actions = {};

const ROUTE = /^#keys\/(.+)$/;

/** The id in the address bar, when it names a key. */
function routedId() {
  const m = ROUTE.exec(window.location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

export function initKeyPage(handlers) {
  actions = handlers;
  $('key-view-edit').addEventListener('click', () => actions.edit(viewed));
  $('key-view-roll').addEventListener('click', () => actions.roll(viewed));
  $('key-view-revoke').addEventListener('click', () => actions.revoke(viewed));
  $('key-view-usage').addEventListener('click', () => actions.usage(viewed));
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
  window.addEventListener('hashchange', route);
}

/** Shows the page the address names: a key's, or the list. Call when signed in. */
export function route() {
  if (!who()) return;
  const id = routedId();
  if (id) openPage(id);
  else closePage();
}

function closePage() {
  const was = viewed?.id;
  viewSeq += 1;
  viewed = null;
  show($('key-page'), false);
  show($('keys-list'), true);
  if (was) document.querySelector(`#keys-body tr[data-key-id="${CSS.escape(was)}"] a`)?.focus();
}

/** Leaves the page without a trace (sign-out). */
export function resetKeyPage() {
  viewSeq += 1;
  viewed = null;
  show($('key-page'), false);
  show($('keys-list'), true);
  if (ROUTE.test(window.location.hash)) window.history.replaceState(null, '', window.location.pathname);
}

async function openPage(id) {
  const seq = ++viewSeq;
  show($('keys-list'), false);
  show($('key-page'), true);
  alertIn($('key-view-error'), '');
  $('credits-amount').value = '';
  creditsError('', '');
  if (viewed?.id !== id) {
    fill($('key-view-facts'));
    fill($('key-sparkline'));
    $('key-activity-summary').textContent = '';
    $('key-view-title').textContent = 'Loading the key…';
  }
  $('key-view-title').tabIndex = -1;
  $('key-view-title').focus();
  await reload(seq, id);
}

/** Fetches the key shown again (after a change made from the page or elsewhere). */
export function refreshKeyPage() {
  if (viewed) reload(++viewSeq, viewed.id);
}

async function reload(seq, id) {
  try {
    const key = await api('GET', `/v1/keys/${encodeURIComponent(id)}`);
    if (seq !== viewSeq) return;
    render(key);
  } catch (e) {
    if (seq !== viewSeq) return;
    $('key-view-title').textContent = 'Key not shown';
    alertIn($('key-view-error'), e instanceof ApiError && e.status === 404
      ? `No key ${id} in this organization.`
      : `The key could not be loaded: ${e.message}`);
    for (const b of ['key-view-edit', 'key-view-roll', 'key-view-revoke', 'key-view-usage']) show($(b), false);
    return;
  }
  loadActivity(seq, id);
  loadSessions(seq, id);
}

/** The live console sessions this key started, each with its End button. */
async function loadSessions(seq, id) {
  const section = $('key-sessions-section');
  if (viewed?.kind === 'console_session') {
    show(section, false);
    return;
  }
  let page;
  try {
    page = await api('GET', '/v1/keys', { query: { parent_key_id: id, status: 'active', limit: 100 } });
  } catch {
    show(section, false);
    return;
  }
  if (seq !== viewSeq) return;
  const mine = who()?.sessionKeyId;
  show(section, page.keys.length > 0);
  fill($('key-sessions-list'), page.keys.map((s) => h('li', { dataset: { keyId: s.id } },
    h('code', {}, s.id), s.id === mine ? h('span', { className: 'badge session' }, 'this console session') : null,
    h('span', { className: 'hint' }, ' started ', time(s.created_at), ', ends ', time(s.expires_at), ', last used ', ago(s.last_used_at), ' '),
    h('button', {
      type: 'button',
      className: 'danger small',
      'aria-label': `End session ${s.id}`,
      onclick: () => actions.revoke(s),
    }, 'End'))));
}

function render(key) {
  viewed = key;
  $('key-view-title').textContent = key.name;
  const fact = (term, ...value) => h('div', {}, h('dt', {}, term), h('dd', {}, ...value));
  const metadata = Object.entries(key.metadata || {});
  const jwks = key.public_keys || [];
  const v4only = key.allowed_cidrs.length > 0 && key.allowed_cidrs.every((c) => !c.includes(':'));
  const me = who();
  fill($('key-view-facts'),
    fact('Key id (client_id)', h('code', { id: 'key-view-id' }, key.id)),
    key.parent_key_id ? fact('Console session of', h('a', { href: `#keys/${encodeURIComponent(key.parent_key_id)}` },
      h('code', {}, key.parent_key_id))) : null,
    fact('Status', ...statusBadges(key),
      key.id === me?.keyId ? h('span', { className: 'badge session' }, 'you are signed in with it') : null),
    key.leaked_at && key.status !== 'revoked'
      ? fact('Reported leaked', time(key.leaked_at), h('p', { className: 'field-warning' }, 'Its secret is public: roll it now, or revoke the key.'))
      : null,
    fact('Authentication', authentication(key)),
    jwks.length ? fact('Public keys (private_key_jwt)', h('ul', { className: 'plain' },
      jwks.map((k) => h('li', { dataset: { kid: k.kid } }, h('code', {}, k.kid), ` (${jwkKind(k)})`)))) : null,
    key.jwks_uri ? fact('JWKS URL (private_key_jwt)', h('code', { id: 'key-view-jwks-uri' }, key.jwks_uri)) : null,
    workloadsFact(key.federated_credentials || []),
    fact('Created', time(key.created_at)),
    fact('Expires', time(key.expires_at, 'never')),
    fact('Last used', ago(key.last_used_at), h('span', { id: 'key-view-last-ip' })),
    key.revoked_at ? fact('Revoked', time(key.revoked_at)) : null,
    fact('Scopes', scopeChips(key)),
    fact('Allowed IPs', cidrChips(key), v4only
      ? h('p', { className: 'field-warning' }, 'IPv4 networks only: every IPv6 client is refused.')
      : null),
    metadata.length ? fact('Metadata', h('ul', { className: 'chips' }, metadata.map(([k, v]) =>
      h('li', {}, h('code', {}, `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`))))) : null);
  const live = key.status !== 'revoked';
  const session = key.kind === 'console_session';
  show($('key-view-edit'), live && !session);
  const guarded = Boolean(me?.sessionKeyId) && key.id === me?.keyId;
  show($('key-view-roll'), live && !session && !guarded && key.secret !== false);
  show($('key-view-revoke'), live);
  show($('key-view-usage'), true);
  const limits = key.rate_limits || [];
  fill($('key-view-limits'), limits.length
    ? h('ul', { className: 'plain' }, limits.map((l) => h('li', { dataset: { name: l.name } },
      h('code', {}, l.name), `: ${count(l.limit)} per ${longWindow(l.window_seconds)}`)))
    : h('span', { className: 'muted' }, 'none'));
  const quota = key.quota;
  show($('key-view-quota'), Boolean(quota));
  show($('key-view-refill-row'), Boolean(quota));
  show($('key-view-no-quota'), !quota);
  show($('credits-form'), Boolean(quota) && live);
  if (!quota) return;
  $('key-view-credits').textContent = count(quota.remaining ?? 0);
  fill($('key-view-refill'), quota.refill
    ? [refillText(quota.refill), h('br'), h('span', { className: 'hint' }, 'Next: ', time(nextRefill(quota.refill).toISOString()))]
    : h('span', { className: 'muted' }, 'none: credits come back only when added or set'));
}

/** "Secret lk_…a1b2 or private_key_jwt", "private_key_jwt or a trusted workload's token only (no secret)". */
function authentication(key) {
  const others = [
    (key.public_keys || []).length || key.jwks_uri ? 'private_key_jwt' : '',
    (key.federated_credentials || []).length ? 'a trusted workload’s token' : '',
  ].filter(Boolean).join(' or ');
  if (key.secret === false) return `${others} only (no secret)`;
  return ['Secret ', h('code', {}, key.secret_hint), others ? ` or ${others}` : ''];
}

/** Each workload the key trusts: its issuer, subject (a glob, maybe) and audience. */
function workloadsFact(credentials) {
  if (!credentials.length) return null;
  const pair = (term, value) => h('div', {}, h('dt', {}, term), h('dd', {}, h('code', {}, value)));
  return h('div', { className: 'wide' },
    h('dt', {}, 'Trusted workloads (federation)'),
    h('dd', {}, h('ul', { className: 'plain workloads', id: 'key-view-workloads' }, credentials.map((c) => h('li', {},
      h('dl', { className: 'workload' },
        pair('Issuer', c.issuer), pair('Subject', c.subject), pair('Audience', c.audience),
        c.jwks_uri ? pair('JWKS URL', c.jwks_uri) : null))))));
}

// ---------------------------------------------------------------------------------------------
// The last 24 hours, as a sparkline
// ---------------------------------------------------------------------------------------------

async function loadActivity(seq, id) {
  const to = new Date();
  const from = new Date(to.getTime() - 24 * 3600e3);
  let report;
  try {
    report = await api('GET', `/v1/keys/${encodeURIComponent(id)}/usage`, {
      query: { granularity: 'hour', from: from.toISOString(), to: to.toISOString() },
    });
  } catch (e) {
    if (seq === viewSeq) $('key-activity-summary').textContent = `The activity could not be loaded: ${e.message}`;
    return;
  }
  if (seq !== viewSeq) return;
  const ip = $('key-view-last-ip');
  if (ip) ip.textContent = report.last_used_ip ? ` from ${report.last_used_ip}` : '';
  const uses = report.buckets.map((b) => b.tokens_issued + b.requests);
  const t = report.totals;
  const summary = `${count(t.tokens_issued)} tokens issued, ${count(t.requests)} requests, ${count(t.denied)} denied in the last 24 hours`
    + (uses.length ? `; busiest hour: ${count(Math.max(...uses))}` : '');
  $('key-activity-summary').textContent = summary;
  fill($('key-sparkline'), sparkline(uses, summary));
}

const SVG = 'http://www.w3.org/2000/svg';

/** A line of `values` over a fixed box, scaled to its width by the stylesheet. */
function sparkline(values, label) {
  const svg = document.createElementNS(SVG, 'svg');
  const width = 240;
  const height = 40;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`);
  const base = document.createElementNS(SVG, 'line');
  for (const [k, v] of Object.entries({ x1: 0, y1: height - 1, x2: width, y2: height - 1, class: 'spark-base' })) base.setAttribute(k, v);
  svg.append(base);
  if (points.length) {
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', points.join(' '));
    line.setAttribute('class', 'spark-line');
    svg.append(line);
  }
  return svg;
}

// ---------------------------------------------------------------------------------------------
// Credits
// ---------------------------------------------------------------------------------------------

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
    actions.changed();
    if (seq !== viewSeq) return;
    viewed = { ...key, quota: { ...key.quota, remaining: result.remaining } };
    render(viewed);
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
