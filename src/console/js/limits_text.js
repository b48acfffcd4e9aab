// Rate limits and quotas as text, for the key list and the key page.

import { h } from './dom.js';

const numbers = new Intl.NumberFormat();
export const count = (n) => numbers.format(n);
const UNITS = [[86400, 'day', 'day'], [3600, 'h', 'hour'], [60, 'min', 'minute'], [1, 's', 'second']];

/** 60 → "min", 120 → "2 min", 90 → "90 s": for the list. */
function shortWindow(seconds) {
  const [unit, short] = UNITS.find(([u]) => seconds % u === 0);
  return seconds === unit ? short : `${count(seconds / unit)} ${short}`;
}

/** 60 → "1 minute", 7200 → "2 hours". */
export function longWindow(seconds) {
  const [unit, , long] = UNITS.find(([u]) => seconds % u === 0);
  const n = seconds / unit;
  return `${count(n)} ${long}${n === 1 ? '' : 's'}`;
}

export const credits = (n) => `${count(n)} ${n === 1 ? 'credit' : 'credits'}`;

/** "Back to 1,000 credits monthly, on day 15 at 00:00 UTC". */
export function refillText(refill) {
  if (refill.interval === 'daily') return `Back to ${credits(refill.amount)} every day at 00:00 UTC`;
  const day = refill.day_of_month ?? 1;
  return `Back to ${credits(refill.amount)} monthly, on day ${day} at 00:00 UTC`
    + (day > 28 ? ' (in a shorter month: on its last day)' : '');
}

/** The next refill after now, in UTC, as `Refill.next_after` computes it. */
export function nextRefill(refill, now = new Date()) {
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
export function limitsCell(key) {
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

