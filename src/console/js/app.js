// Entry point: sign-in, the tabs, sign-out. Each tab lives in its own module.

import { ApiError } from './api.js';
import { initAudit, loadAudit } from './audit.js';
import { $, alertIn, announce, fill, show } from './dom.js';
import { resetKeyPage, route } from './key_page.js';
import { initKeys, loadKeys } from './keys.js';
import { onSignOut, signIn, signOut, who } from './session.js';
import { initSettings, loadSettings } from './settings.js';
import { initSigningKeys, loadSigningKeys } from './signing_keys.js';
import { initUsage, resetUsage, selectKey, usageShown } from './usage.js';
import { initWebhooks, loadWebhooks } from './webhooks.js';

// A secret's shape (latchkey_rules::secret): the deployment's prefix (`lk_` unless it set
// another; 2 to 16 of [a-z0-9_], a letter first, `_` last), then 49 base62 characters. The
// checksum is the server's to check.
const SECRET_SHAPE = /^[a-z][a-z0-9_]{0,14}_[0-9A-Za-z]{49}$/;

const TABS = {
  keys: { tab: 'tab-keys', panel: 'panel-keys', load: () => loadKeys() },
  usage: { tab: 'tab-usage', panel: 'panel-usage', load: () => {} },
  audit: { tab: 'tab-audit', panel: 'panel-audit', load: () => loadAudit() },
  webhooks: { tab: 'tab-webhooks', panel: 'panel-webhooks', load: () => loadWebhooks() },
  signing: { tab: 'tab-signing', panel: 'panel-signing', load: () => loadSigningKeys() },
  settings: { tab: 'tab-settings', panel: 'panel-settings', load: () => loadSettings() },
};

function selectTab(name, { focus = false } = {}) {
  for (const [other, t] of Object.entries(TABS)) {
    const selected = other === name;
    const tab = $(t.tab);
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    show($(t.panel), selected);
    if (selected && focus) tab.focus();
  }
  usageShown(name === 'usage');
  TABS[name].load();
  document.body.dataset.tab = name;
}

/** The WAI-ARIA tabs pattern: arrows move between tabs, Home/End to the ends. */
function initTabs() {
  const names = Object.keys(TABS);
  for (const [name, t] of Object.entries(TABS)) {
    $(t.tab).addEventListener('click', () => selectTab(name));
    $(t.tab).addEventListener('keydown', (e) => {
      const i = names.indexOf(name);
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: names.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      selectTab(names[(to + names.length) % names.length], { focus: true });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Sign-in
// ---------------------------------------------------------------------------------------------

function fieldError(id, message) {
  const input = $(id);
  alertIn($(`${id}-error`), message);
  if (message) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
  return Boolean(message);
}

function showBootstrapHelp(reason) {
  alertIn($('bootstrap-reason'), reason);
  $('bootstrap-help').classList.toggle('emphasis', Boolean(reason));
}

async function submitSignIn(event) {
  event.preventDefault();
  const id = $('sign-in-id').value.trim();
  const secretInput = $('sign-in-secret');
  const secret = secretInput.value.trim();
  alertIn($('sign-in-error'), '');
  alertIn($('sign-in-notice'), '');
  showBootstrapHelp('');
  let bad = fieldError('sign-in-id', !id ? 'Enter the key id.'
    : !id.startsWith('key_') ? (SECRET_SHAPE.test(id) ? 'This looks like a secret: the key id starts with key_.' : 'A key id starts with key_.') : '');
  bad = fieldError('sign-in-secret', !secret ? 'Enter the secret.'
    : !SECRET_SHAPE.test(secret) ? 'A secret is a prefix such as lk_ and 49 letters and digits.' : '') || bad;
  if (bad) {
    $('sign-in-form').querySelector('[aria-invalid="true"]').focus();
    return;
  }
  const button = $('sign-in-submit');
  button.disabled = true;
  button.textContent = 'Signing in…';
  try {
    await signIn(id, secret);
    secretInput.value = '';
    signedIn();
  } catch (e) {
    signInFailed(e);
  } finally {
    button.disabled = false;
    button.textContent = 'Sign in';
  }
}

function signInFailed(e) {
  let message = `Sign-in failed: ${e.message}`;
  if (e instanceof ApiError && e.type === 'org_not_bootstrapped') {
    message = 'This organization is not bootstrapped yet, so it has no signing key and no admin key.';
    showBootstrapHelp(`The server says: “${e.message.replace(/\.$/, '')}”. Bootstrap it as shown here, then sign in with the admin key it prints.`);
  } else if (e instanceof ApiError && e.status >= 500 && e.type !== 'temporarily_unavailable') {
    message = `The server could not issue a token (${e.message}); its log says why.`;
    showBootstrapHelp('An organization that was created but never bootstrapped has no signing key: bootstrap it as shown here.');
  }
  alertIn($('sign-in-error'), message);
}

function signedIn() {
  const me = who();
  $('session-who').textContent = `Signed in as ${me.keyName ? `${me.keyName} (${me.keyId})` : me.keyId}`
    + (me.renewable ? '' : ' — this key may not create keys, so the session ends when its token expires');
  show($('sign-in-view'), false);
  show($('session-info'), true);
  show($('app-view'), true);
  document.body.dataset.state = 'signed-in';
  selectTab('keys');
  $('main').focus();
  announce('Signed in.');
  route();
}

function signedOut(reason, expected) {
  for (const dialog of document.querySelectorAll('dialog[open]')) {
    // Let a one-time secret's dialog close too: the session is over.
    for (const ack of dialog.querySelectorAll('input[id$="-ack"]')) ack.checked = true;
    dialog.close('signed-out');
  }
  $('secret-value').value = '';
  $('webhook-secret-value').value = '';
  usageShown(false);
  resetUsage();
  resetKeyPage();
  for (const id of ['keys-body']) fill($(id));
  for (const table of ['audit-table', 'signing-table', 'webhooks-table', 'deliveries-table']) fill($(table).tBodies[0]);
  fill($('org-facts'));
  show($('app-view'), false);
  show($('session-info'), false);
  show($('sign-in-view'), true);
  document.body.dataset.state = 'signed-out';
  alertIn($('sign-in-error'), expected ? '' : reason);
  alertIn($('sign-in-notice'), expected ? reason : '');
  $('sign-in-id').focus();
}

function init() {
  initTabs();
  initKeys({
    onUsage(key) {
      selectKey(key);
      selectTab('usage');
    },
  });
  initUsage();
  initAudit();
  initSigningKeys();
  initWebhooks();
  initSettings();
  onSignOut(signedOut);
  $('sign-in-form').addEventListener('submit', submitSignIn);
  // A key's page lives in the Keys tab (`#keys/<id>`, key_page.js): following a link to one
  // from anywhere shows that tab.
  window.addEventListener('hashchange', () => {
    if (who() && window.location.hash.startsWith('#keys') && document.body.dataset.tab !== 'keys') selectTab('keys');
  });
  $('sign-out').addEventListener('click', () => signOut('You are signed out.'));
  show($('sign-in-view'), true);
  document.body.dataset.state = 'signed-out';
  $('sign-in-id').focus();
}

init();
