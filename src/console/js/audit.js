// The Audit tab: who changed what, when and from where (`GET /v1/audit`), newest first.

import { $, failure, fill, h, listState, show, time } from './dom.js';
import { api, who } from './session.js';

let cursor = null;
let loading = 0;
let filterTimer = 0;

export function initAudit() {
  $('audit-action').addEventListener('change', () => loadAudit());
  $('audit-target').addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => loadAudit(), 300);
  });
  $('audit-refresh').addEventListener('click', () => loadAudit());
  $('audit-more').addEventListener('click', () => loadAudit(cursor));
}

export async function loadAudit(from = null) {
  const seq = ++loading;
  const body = $('audit-table').tBodies[0];
  try {
    const page = await api('GET', '/v1/audit', {
      query: { action: $('audit-action').value, target: $('audit-target').value.trim(), cursor: from, limit: 50 },
    });
    if (seq !== loading) return;
    const rows = page.events.map(row);
    if (from) body.append(...rows);
    else fill(body, rows);
    cursor = page.next_cursor;
    show($('audit-more'), Boolean(cursor));
    listState($('audit-empty'), 'empty', body.rows.length ? '' : 'No events match.');
  } catch (e) {
    if (seq !== loading) return;
    listState($('audit-empty'), 'error', failure(e, 'see the audit log', 'admin over audit'));
  }
}

function row(event) {
  const session = who()?.sessionKeyId;
  const details = JSON.stringify(event.details, null, 2);
  return h('tr', { dataset: { action: event.action } },
    h('td', {}, time(event.at)),
    h('td', {}, actorCell(event, session)),
    h('td', {}, h('code', {}, event.action)),
    h('td', {}, event.target_name ? [event.target_name, h('br'), h('code', { className: 'sub' }, event.target)] : h('code', {}, event.target)),
    h('td', {}, event.ip || '—'),
    h('td', {}, details && details !== '{}' && details !== 'null'
      ? h('details', {}, h('summary', {}, 'Details'), h('pre', {}, details))
      : h('span', { className: 'muted' }, '—')));
}

/** "<key name> via console" for a change made through a console session; the id beneath. */
function actorCell(event, session) {
  const via = event.actor_via === 'console';
  const name = event.actor_name || event.actor;
  return [
    h('span', {}, name, via ? h('span', { className: 'muted' }, ' via console') : null),
    event.actor_name ? [h('br'), h('code', { className: 'sub' }, event.actor)] : null,
    via && event.actor_session === session ? h('span', { className: 'badge session' }, 'this session') : null,
  ];
}
