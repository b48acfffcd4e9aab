// The key dialog's "Trusted workloads (federation)" fieldset: rows of issuer, subject, audience
// and an optional JWKS URL, one per `federated_credentials` entry (docs/api.md, "Workload identity
// federation"). key_form.js owns the form (dry runs, errors, the request body); this module builds
// the rows, numbers them, and reads them back. Every input carries the request-body path of its
// member (`federated_credentials[0].subject`), and every member has its own error slot, so the
// server's errors land next to the input they are about.

import { $, h } from './dom.js';

/** The server's bound on federated credentials per key. */
const MAX_WORKLOADS = 10;

/** The members of a credential: `[member, label, placeholder]`, in the order the API lists them. */
const MEMBERS = [
  ['issuer', 'Issuer', 'https://token.actions.githubusercontent.com'],
  ['subject', 'Subject', 'repo:acme/app:ref:refs/heads/main'],
  ['audience', 'Audience', 'latchkey'],
  ['jwks_uri', 'JWKS URL (optional)', 'blank: discovered'],
];
/** Members that are URLs: they take `type=url` and can be warned about (plain http). */
const URLS = new Set(['issuer', 'jwks_uri']);

let rows = null;
/** `(row, field, focusSelector, addId) → button`: key_form's Remove, which also renumbers. */
let removeButton = null;
/** Row index of each request-body index (blank rows are not sent). */
let sentRows = [];

/** Builds the fieldset after `after` (the public keys); `remove` makes a row's Remove button. */
export function federationFieldset(after, remove) {
  removeButton = remove;
  rows = h('ol', { id: 'workload-rows', className: 'rows' });
  after.after(h('fieldset', { id: 'federation-set' },
    h('legend', {}, 'Trusted workloads (federation)'),
    h('p', { className: 'hint', id: 'federation-hint' },
      'A token that an OpenID issuer mints for a workload (a GitHub Actions job, a Kubernetes service account) is '
      + 'accepted as this key’s client assertion, sent with the key id as client_id: nothing secret to keep. At most 10.'),
    h('ul', { className: 'hint workload-hints' },
      h('li', { id: 'workload-issuer-hint' }, h('strong', {}, 'Issuer'), ': the tokens’ iss, exactly; GitHub Actions: ',
        h('code', {}, 'https://token.actions.githubusercontent.com'), '.'),
      h('li', { id: 'workload-subject-hint' }, h('strong', {}, 'Subject'), ': their sub, exact (',
        h('code', {}, 'repo:acme/app:ref:refs/heads/main'), ') or with ', h('code', {}, '*'),
        ' for any run of characters after two fixed segments: ', h('code', {}, 'repo:acme/app:ref:refs/heads/*'),
        ' (every branch), or for Kubernetes ', h('code', {}, 'system:serviceaccount:payments:*'),
        ' (every service account of a namespace).'),
      h('li', { id: 'workload-audience-hint' }, h('strong', {}, 'Audience'),
        ': a value their aud must hold; choose one that names this deployment alone.'),
      h('li', { id: 'workload-jwks_uri-hint' }, h('strong', {}, 'JWKS URL'),
        ': where the issuer’s keys are; blank: the one its /.well-known/openid-configuration names.')),
    rows,
    h('p', { className: 'field-error', id: 'federated_credentials-error', hidden: true,
      dataset: { field: 'federated_credentials' } }),
    h('button', { type: 'button', id: 'workload-add', className: 'secondary' }, 'Add trusted workload'),
  ));
  return $('workload-add');
}

/** A row for `credential` (`{}` for a blank one); the caller renumbers. */
export function addWorkloadRow(credential) {
  const row = h('li', { className: 'row workload-row' });
  const fields = MEMBERS.map(([member, , placeholder]) => h('div', { className: 'field', dataset: { member } },
    h('label', {}),
    h('input', {
      value: credential[member] ?? '',
      type: URLS.has(member) ? 'url' : 'text',
      inputMode: URLS.has(member) ? 'url' : undefined,
      placeholder,
      autocomplete: 'off',
      spellcheck: false,
    }),
    URLS.has(member) ? h('p', { className: 'field-warning', hidden: true }) : null,
    h('p', { className: 'field-error', hidden: true })));
  row.append(
    h('div', { className: 'workload-fields' }, fields),
    removeButton(row, 'federated_credentials', 'input', 'workload-add'),
    h('p', { className: 'field-error workload-error', hidden: true }),
  );
  rows.append(row);
  return row;
}

/** Gives every row's inputs ids, labels, request-body paths and error slots for its position. */
export function renumberWorkloads() {
  [...rows.children].forEach((row, i) => {
    const n = i + 1;
    const at = `federated_credentials[${i}]`;
    const rowError = row.querySelector('.workload-error');
    rowError.id = `workload-${i}-error`;
    rowError.dataset.field = at;
    for (const field of row.querySelectorAll('.workload-fields .field')) {
      const { member } = field.dataset;
      const label = field.querySelector('label');
      const input = field.querySelector('input');
      const warning = field.querySelector('.field-warning');
      const error = field.querySelector('.field-error');
      const text = MEMBERS.find(([m]) => m === member)[1];
      input.id = `workload-${i}-${member}`;
      label.htmlFor = input.id;
      label.replaceChildren(text, h('span', { className: 'visually-hidden' }, ` of workload ${n}`));
      input.dataset.field = `${at}.${member}`;
      error.id = `${input.id}-error`;
      error.dataset.field = `${at}.${member}`;
      const described = [`workload-${member}-hint`, error.id, rowError.id];
      if (warning) {
        warning.id = `${input.id}-warning`;
        warning.dataset.warningFor = `${at}.${member}`;
        described.splice(1, 0, warning.id);
      }
      input.setAttribute('aria-describedby', described.join(' '));
    }
    row.querySelector('button').setAttribute('aria-label', `Remove workload ${n}`);
  });
  $('workload-add').disabled = rows.children.length >= MAX_WORKLOADS;
}

export function clearWorkloads() {
  rows.replaceChildren();
}

/**
 * The rows as the API takes them: blank members left out (the server says which are required),
 * blank rows not sent. Records which row each sent credential came from.
 */
export function workloadsOf() {
  const credentials = [];
  sentRows = [];
  [...rows.children].forEach((row, i) => {
    const credential = {};
    for (const [member] of MEMBERS) {
      const value = row.querySelector(`[data-member="${member}"] input`).value.trim();
      if (value) credential[member] = value;
    }
    if (Object.keys(credential).length === 0) return;
    credentials.push(credential);
    sentRows.push(i);
  });
  return credentials;
}

/** `federated_credentials[i]…` of the request body as the path of the row it came from. */
export function workloadField(field) {
  const m = /^federated_credentials\[(\d+)\](.*)$/.exec(field);
  if (!m || sentRows[Number(m[1])] === undefined) return field;
  return `federated_credentials[${sentRows[Number(m[1])]}]${m[2]}`;
}

/** The label of a member's input, for an error said next to it: `Subject`. */
export function memberLabel(member) {
  return MEMBERS.find(([m]) => m === member)?.[1].replace(' (optional)', '');
}
