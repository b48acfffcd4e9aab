// The Usage tab: per-key or org-wide tokens issued, requests and denials per hour or day, drawn
// with uPlot (vendored: vendor/uplot), with the same numbers as a table, the totals, denials by
// reason and the last use. It refreshes itself every 10 s while shown.

import { $, ago, failure, fill, formatDateTime, h, show, time } from './dom.js';
import { api } from './session.js';

const REFRESH_MS = 10000;
const REASONS = {
  bad_secret: 'Wrong secret',
  revoked: 'Key revoked',
  expired: 'Key expired',
  ip_not_allowed: 'Address not allowed',
  scope_not_allowed: 'Scope not allowed',
  rate_limited: 'Rate limited',
  quota_exhausted: 'Quota exhausted',
};
const SERIES = [
  { key: 'tokens_issued', label: 'Tokens issued', stroke: '#2563eb', fill: 'rgba(37, 99, 235, 0.12)' },
  { key: 'requests', label: 'Requests', stroke: '#059669', fill: 'rgba(5, 150, 105, 0.08)' },
  { key: 'denied', label: 'Denied', stroke: '#dc2626', fill: 'rgba(220, 38, 38, 0.08)' },
];

let chart = null;
let refreshTimer = 0;
let active = false;
let loading = 0;
/** Key ids offered in the subject list, with their names. */
const known = new Map();

export function initUsage() {
  $('usage-subject').addEventListener('change', load);
  $('usage-sessions').addEventListener('change', load);
  $('usage-range').addEventListener('change', load);
  $('usage-refresh').addEventListener('click', load);
  new ResizeObserver(() => {
    if (chart) chart.setSize(size());
  }).observe($('usage-chart'));
}

/** The tab is shown (`true`) or hidden: refresh now and every 10 s, or stop. */
export function usageShown(shown) {
  active = shown;
  clearTimeout(refreshTimer);
  if (shown) load();
}

/** Shows the usage of one key (from the key list's Usage button). */
export function selectKey(key) {
  offer(key.id, key.name);
  $('usage-subject').value = key.id;
}

function offer(id, name) {
  if (known.has(id)) return;
  known.set(id, name);
  $('usage-subject').append(h('option', { value: id }, `${name} (${id})`));
}

export function resetUsage() {
  known.clear();
  fill($('usage-subject'), h('option', { value: '' }, 'Whole organization'));
  if (chart) chart.destroy();
  chart = null;
}

async function load() {
  clearTimeout(refreshTimer);
  const seq = ++loading;
  const subject = $('usage-subject').value;
  const [granularity, count] = $('usage-range').value.split(':');
  const step = granularity === 'hour' ? 3600e3 : 86400e3;
  const to = new Date();
  const from = new Date(to.getTime() - Number(count) * step);
  const panel = $('panel-usage');
  panel.setAttribute('aria-busy', 'true');
  try {
    const report = await api('GET', subject ? `/v1/keys/${subject}/usage` : '/v1/usage', {
      query: {
        granularity,
        from: from.toISOString(),
        to: to.toISOString(),
        include_sessions: !subject && $('usage-sessions').checked ? 'true' : undefined,
      },
    });
    if (seq !== loading) return;
    render(report, subject);
  } catch (e) {
    if (seq !== loading) return;
    fill($('usage-totals'), h('div', { className: 'alert', role: 'alert' }, failure(e, 'see usage', subject ? `admin over keys/${subject}/usage` : 'admin over usage')));
  } finally {
    if (seq === loading) {
      panel.removeAttribute('aria-busy');
      if (active) refreshTimer = setTimeout(load, REFRESH_MS);
    }
  }
}

function render(report, subject) {
  $('usage-title').textContent = subject
    ? `Usage of ${known.get(subject) || subject}`
    : 'Usage of the whole organization';
  const t = report.totals;
  const total = (label, value, id) => h('div', {}, h('dt', {}, label), h('dd', { id }, value));
  fill($('usage-totals'),
    total('Tokens issued', t.tokens_issued, 'usage-total-tokens'),
    total('Requests', t.requests, 'usage-total-requests'),
    total('Denied', t.denied, 'usage-total-denied'),
    total('Last used', ago(report.last_used_at), 'usage-last-used'),
    total('Last used from', report.last_used_ip || '—', 'usage-last-ip'));
  const figure = $('usage-chart');
  figure.dataset.tokensIssued = t.tokens_issued;
  figure.dataset.requests = t.requests;
  figure.dataset.denied = t.denied;
  figure.dataset.buckets = report.buckets.length;
  $('usage-chart-caption').textContent = `Tokens issued, requests and denials per ${report.granularity}, `
    + `${formatDateTime(new Date(report.from))} to ${formatDateTime(new Date(report.to))}`;
  draw(report);
  fill($('usage-table').tBodies[0], report.buckets
    .filter((b) => b.tokens_issued || b.requests || b.denied)
    .map((b) => h('tr', {}, h('td', {}, time(b.start)), h('td', {}, b.tokens_issued), h('td', {}, b.requests), h('td', {}, b.denied))));

  const max = Math.max(1, ...Object.values(t.denied_by_reason));
  // Every reason the console knows, then any newer one the server counts, by its code.
  const reasons = Object.entries(REASONS).concat(Object.keys(t.denied_by_reason)
    .filter((code) => !(code in REASONS)).map((code) => [code, code]));
  fill($('usage-denials').tBodies[0], reasons.map(([code, label]) => {
    const n = t.denied_by_reason[code] || 0;
    return h('tr', { dataset: { reason: code } },
      h('th', { scope: 'row' }, label),
      h('td', {}, n),
      h('td', {}, h('meter', { min: 0, max, value: n, 'aria-label': `${label}: ${n}` })));
  }));

  const top = report.top_keys || [];
  show($('usage-top'), !subject && top.length > 0);
  fill($('usage-top-table').tBodies[0], top.map((k) => {
    offer(k.key_id, k.name);
    const link = h('button', { type: 'button', className: 'link' }, `${k.name} (${k.key_id})`);
    link.addEventListener('click', () => {
      $('usage-subject').value = k.key_id;
      load();
    });
    return h('tr', {}, h('td', {}, link), h('td', {}, k.tokens_issued), h('td', {}, k.requests), h('td', {}, k.denied));
  }));
}

function axis() {
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  return { stroke: color('--fg'), grid: { stroke: color('--line'), width: 1 }, ticks: { stroke: color('--line'), width: 1 } };
}

function size() {
  const el = $('usage-chart');
  return { width: Math.max(300, el.clientWidth), height: 260 };
}

function draw(report) {
  // Each bucket's count holds from its start to the next one's; one more point at the end of
  // the last bucket gives it its width too.
  const width = report.granularity === 'hour' ? 3600 : 86400;
  const xs = report.buckets.map((b) => Date.parse(b.start) / 1000);
  if (xs.length) xs.push(xs[xs.length - 1] + width);
  const series = SERIES.map((s) => {
    const ys = report.buckets.map((b) => b[s.key]);
    if (ys.length) ys.push(ys[ys.length - 1]);
    return ys;
  });
  const data = [xs, ...series];
  if (chart && chart.granularity === report.granularity) {
    chart.setData(data);
    return;
  }
  if (chart) chart.destroy();
  // Counts per bucket: a step holds each bucket's value over its whole hour or day.
  const steps = globalThis.uPlot.paths.stepped({ align: 1 });
  chart = new globalThis.uPlot({
    ...size(),
    series: [
      {},
      ...SERIES.map((s) => ({ label: s.label, stroke: s.stroke, fill: s.fill, width: 2, paths: steps, points: { show: false } })),
    ],
    // The page's colours (light or dark, as the reader's system prefers).
    axes: [axis(), { ...axis(), label: 'count' }],
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, max * 1.1)] } },
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
  }, data, $('usage-chart'));
  chart.granularity = report.granularity;
}
