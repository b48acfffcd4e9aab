// The Webhooks tab: the org's endpoints (add, edit, disable or enable, send a test, delete),
// the one-time signing secret after adding one, and each endpoint's delivery log with retry.

import { ApiError } from './api.js';
import { $, alertIn, announce, fill, h, oneTimeSecret, openDialog, show, time } from './dom.js';
import { api } from './session.js';

/** Every event an endpoint may subscribe to, in the API's words and the reader's. */
const EVENTS = [
  ['key.created', 'A key is created'],
  ['key.updated', 'A key is edited'],
  ['key.rolled', 'A key’s secret is rolled'],
  ['key.revoked', 'A key is revoked'],
  ['key.expiring', 'A key expires soon (30, 7 and 1 days before, by default)'],
  ['key.expired', 'A key has expired'],
  ['key.leaked', 'A key’s secret was reported leaked'],
  ['signing_key.rotated', 'The token-signing key was rotated'],
  ['quota.low', 'A key has 10% of its credits left'],
  ['quota.exhausted', 'A key has no credits left'],
];

/** The webhook being edited (null: adding one), and the one whose deliveries are shown. */
let editing = null;
let shown = null;
let deliveriesCursor = null;
let loading = 0;
let secretDialog = null;

export function initWebhooks() {
  fill($('webhook-event-list'), EVENTS.map(([name, what], i) => h('li', { className: 'check' },
    h('input', { type: 'checkbox', id: `webhook-event-${i}`, value: name, 'aria-describedby': `webhook-event-${i}-what` }),
    h('label', { htmlFor: `webhook-event-${i}` }, h('code', {}, name)),
    h('span', { id: `webhook-event-${i}-what`, className: 'hint' }, what))));
  $('webhook-create').addEventListener('click', () => openForm(null));
  $('webhook-cancel').addEventListener('click', () => $('webhook-dialog').close('cancel'));
  $('webhook-form').addEventListener('submit', submitForm);
  $('webhook-delete-cancel').addEventListener('click', () => $('webhook-delete-dialog').close('cancel'));
  $('webhook-delete-form').addEventListener('submit', submitDelete);
  $('deliveries-refresh').addEventListener('click', () => loadDeliveries());
  $('deliveries-more').addEventListener('click', () => loadDeliveries(deliveriesCursor));
  $('deliveries-close').addEventListener('click', () => {
    const id = shown?.id;
    shown = null;
    show($('deliveries'), false);
    document.querySelector(`#webhooks-table button[data-deliveries="${id}"]`)?.focus();
  });
  secretDialog = oneTimeSecret({
    dialog: 'webhook-secret-dialog',
    value: 'webhook-secret-value',
    copy: 'webhook-secret-copy',
    copied: 'webhook-secret-copied',
    ack: 'webhook-secret-ack',
    close: 'webhook-secret-close',
  }, 'webhook-create');
}

export async function loadWebhooks() {
  const seq = ++loading;
  const table = $('webhooks-table');
  table.setAttribute('aria-busy', 'true');
  try {
    const { webhooks } = await api('GET', '/v1/webhooks');
    if (seq !== loading) return;
    fill(table.tBodies[0], webhooks.map(row));
    alertIn($('webhooks-empty'), webhooks.length ? '' : 'No webhooks yet. Add one to hear about key changes.');
    $('webhooks-empty').classList.remove('alert');
    // The log shown stays while its webhook does.
    if (shown) shown = webhooks.find((w) => w.id === shown.id) || null;
    show($('deliveries'), Boolean(shown));
  } catch (e) {
    if (seq !== loading) return;
    fill(table.tBodies[0]);
    alertIn($('webhooks-empty'), e instanceof ApiError && e.status === 403
      ? 'This key may not manage webhooks: that needs admin over webhooks.'
      : `The webhooks could not be loaded: ${e.message}`);
    $('webhooks-empty').classList.add('alert');
  } finally {
    if (seq === loading) table.removeAttribute('aria-busy');
  }
}

function statusCell(w) {
  if (w.status === 'enabled') {
    return [h('span', { className: 'badge active' }, 'Enabled'),
      w.failing_since ? h('p', { className: 'field-warning' }, 'Failing since ', time(w.failing_since)) : null];
  }
  return [h('span', { className: 'badge revoked' }, 'Disabled'),
    w.disabled_reason ? h('p', { className: 'hint' }, w.disabled_reason) : null];
}

function row(w) {
  const label = (verb) => `${verb} ${w.url}`;
  const button = (text, verb, onclick, className = 'secondary small', extra = {}) =>
    h('button', { type: 'button', className, 'aria-label': label(verb), onclick, ...extra }, text);
  const enabled = w.status === 'enabled';
  return h('tr', { dataset: { webhookId: w.id, status: w.status } },
    h('td', { className: 'name wrap' }, h('code', {}, w.url),
      w.description ? h('p', { className: 'hint' }, w.description) : null),
    h('td', {}, h('ul', { className: 'chips' }, w.events.map((e) => h('li', {}, h('code', {}, e))))),
    h('td', {}, statusCell(w)),
    h('td', {}, time(w.created_at)),
    h('td', {}, h('div', { className: 'row-actions' },
      button('Deliveries', 'Deliveries of', () => openDeliveries(w), 'secondary small', { dataset: { deliveries: w.id } }),
      button('Send test', 'Send test to', () => sendTest(w)),
      button('Edit', 'Edit', () => openForm(w)),
      button(enabled ? 'Disable' : 'Enable', enabled ? 'Disable' : 'Enable', () => setEnabled(w, !enabled)),
      button('Delete', 'Delete', () => openDelete(w), 'danger small'))));
}

// ---------------------------------------------------------------------------------------------
// Add and edit
// ---------------------------------------------------------------------------------------------

function openForm(webhook) {
  editing = webhook;
  $('webhook-dialog-title').textContent = webhook ? 'Edit webhook' : 'Add webhook';
  $('webhook-submit').textContent = webhook ? 'Save' : 'Add webhook';
  $('webhook-url').value = webhook?.url || '';
  $('webhook-description').value = webhook?.description || '';
  const wanted = new Set(webhook ? webhook.events : EVENTS.map(([name]) => name).filter((n) => n.startsWith('key.')));
  for (const box of $('webhook-event-list').querySelectorAll('input')) box.checked = wanted.has(box.value);
  showErrors([]);
  openDialog($('webhook-dialog'), $('webhook-url'));
}

const FIELDS = { url: 'webhook-url', description: 'webhook-description', events: 'webhook-event-0' };

/** Puts each field error next to its field; the rest in the dialog's alert. */
function showErrors(errors, general = '') {
  const rest = [];
  for (const name of Object.keys(FIELDS)) {
    const input = $(FIELDS[name]);
    const message = errors.filter((e) => e.field === name || e.field.startsWith(`${name}[`)).map((e) => e.message).join(' ');
    alertIn($(`webhook-${name}-error`), message);
    if (name === 'events') continue;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
  for (const e of errors) if (!Object.keys(FIELDS).some((f) => e.field === f || e.field.startsWith(`${f}[`))) rest.push(`${e.field}: ${e.message}`);
  alertIn($('webhook-form-errors'), [general, ...rest].filter(Boolean).join('\n'));
  const first = errors.map((e) => FIELDS[e.field.replace(/\[.*$/, '')]).find(Boolean);
  if (first) $(first).focus();
}

function formBody() {
  const events = [...$('webhook-event-list').querySelectorAll('input:checked')].map((b) => b.value);
  return { url: $('webhook-url').value.trim(), description: $('webhook-description').value.trim(), events };
}

/** What the browser can tell before asking the server. */
function localErrors(body) {
  const errors = [];
  if (!body.url) errors.push({ field: 'url', message: 'Enter the endpoint’s URL.' });
  else if (!/^https?:\/\//i.test(body.url)) errors.push({ field: 'url', message: 'The URL starts with https://.' });
  if (!body.events.length) errors.push({ field: 'events', message: 'Choose at least one event.' });
  return errors;
}

async function submitForm(e) {
  e.preventDefault();
  const body = formBody();
  const local = localErrors(body);
  if (local.length) {
    showErrors(local);
    return;
  }
  const submit = $('webhook-submit');
  submit.disabled = true;
  try {
    if (editing) {
      const saved = await api('PATCH', `/v1/webhooks/${encodeURIComponent(editing.id)}`, { body });
      $('webhook-dialog').close('saved');
      announce(`Webhook ${saved.url} saved.`);
    } else {
      const created = await api('POST', '/v1/webhooks', { body });
      $('webhook-dialog').close('created');
      announce(`Webhook ${created.webhook.url} added.`);
      $('webhook-secret-url').textContent = created.webhook.url;
      secretDialog.open(created.secret);
    }
    loadWebhooks();
  } catch (err) {
    if (err instanceof ApiError && err.errors.length) showErrors(err.errors);
    else showErrors([], err.message);
  } finally {
    submit.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Row actions
// ---------------------------------------------------------------------------------------------

function notice(...content) {
  fill($('webhooks-notice'), ...content);
  show($('webhooks-notice'), true);
}

async function setEnabled(w, enabled) {
  try {
    await api('PATCH', `/v1/webhooks/${encodeURIComponent(w.id)}`, { body: { enabled } });
    announce(`Webhook ${w.url} ${enabled ? 'enabled' : 'disabled'}.`);
    await loadWebhooks();
    document.querySelector(`#webhooks-table tr[data-webhook-id="${w.id}"] button[aria-label^="${enabled ? 'Disable' : 'Enable'}"]`)?.focus();
  } catch (err) {
    notice(`The webhook could not be ${enabled ? 'enabled' : 'disabled'}: ${err.message}`);
  }
}

async function sendTest(w) {
  try {
    await api('POST', `/v1/webhooks/${encodeURIComponent(w.id)}/test`, { body: {} });
    notice(`A test event is on its way to ${w.url}. `, h('button', { type: 'button', className: 'link', onclick: () => openDeliveries(w) }, 'See its delivery'));
    announce('Test event sent.');
    if (shown?.id === w.id) loadDeliveries();
  } catch (err) {
    notice(`The test event could not be sent: ${err.message}`);
  }
}

function openDelete(w) {
  editing = w;
  $('webhook-delete-url').textContent = w.url;
  alertIn($('webhook-delete-error'), '');
  openDialog($('webhook-delete-dialog'), $('webhook-delete-cancel'));
}

async function submitDelete(e) {
  e.preventDefault();
  const w = editing;
  try {
    await api('DELETE', `/v1/webhooks/${encodeURIComponent(w.id)}`);
    $('webhook-delete-dialog').close('deleted');
    announce(`Webhook ${w.url} deleted.`);
    if (shown?.id === w.id) shown = null;
    await loadWebhooks();
    $('webhook-create').focus();
  } catch (err) {
    alertIn($('webhook-delete-error'), err.message);
  }
}

// ---------------------------------------------------------------------------------------------
// Deliveries
// ---------------------------------------------------------------------------------------------

function openDeliveries(w) {
  shown = w;
  fill($('deliveries-title'), 'Deliveries to ', h('code', {}, w.url));
  show($('deliveries'), true);
  loadDeliveries().then(() => $('deliveries-title').scrollIntoView({ block: 'nearest' }));
  $('deliveries-refresh').focus();
}

const STATE_BADGE = { pending: 'next', delivered: 'active', failed: 'revoked' };

function deliveryRow(d) {
  const answer = d.last_status
    ? `HTTP ${d.last_status}`
    : (d.last_error || (d.attempts ? '—' : 'not tried yet'));
  return h('tr', { dataset: { deliveryId: d.id, state: d.state, event: d.event } },
    h('td', {}, h('code', {}, d.event), h('p', { className: 'hint' }, h('code', {}, d.event_id))),
    h('td', {}, h('span', { className: `badge ${STATE_BADGE[d.state] || ''}` }, d.state)),
    h('td', {}, String(d.attempts)),
    h('td', { className: 'wrap' }, answer, d.last_status && d.last_error ? h('p', { className: 'hint' }, d.last_error) : null),
    h('td', {}, d.delivered_at ? ['Delivered ', time(d.delivered_at)] : d.next_retry_at ? ['Next try ', time(d.next_retry_at)] : '—'),
    h('td', {}, time(d.created_at)),
    h('td', {}, h('button', {
      type: 'button',
      className: 'secondary small',
      'aria-label': `Retry now: ${d.event} ${d.event_id}`,
      onclick: () => retry(d),
    }, 'Retry now')));
}

async function loadDeliveries(from = null) {
  const w = shown;
  if (!w) return;
  const body = $('deliveries-table').tBodies[0];
  try {
    const page = await api('GET', `/v1/webhooks/${encodeURIComponent(w.id)}/deliveries`, { query: { cursor: from, limit: 25 } });
    if (shown !== w) return;
    const rows = page.deliveries.map(deliveryRow);
    if (from) body.append(...rows);
    else fill(body, rows);
    deliveriesCursor = page.next_cursor;
    show($('deliveries-more'), Boolean(deliveriesCursor));
    alertIn($('deliveries-empty'), body.rows.length ? '' : 'No deliveries yet: events this endpoint subscribed to will show here.');
  } catch (e) {
    alertIn($('deliveries-empty'), `The deliveries could not be loaded: ${e.message}`);
  }
}

async function retry(d) {
  try {
    await api('POST', `/v1/webhooks/${encodeURIComponent(shown.id)}/deliveries/${encodeURIComponent(d.id)}/retry`, { body: {} });
    announce(`${d.event} will be sent again now.`);
    await loadDeliveries();
  } catch (err) {
    alertIn($('deliveries-empty'), `The delivery could not be retried: ${err.message}`);
  }
}
