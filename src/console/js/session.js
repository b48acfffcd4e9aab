// The signed-in session. The access token lives in this module's memory only: never in
// localStorage, sessionStorage or a cookie, so closing or reloading the page signs out.
//
// The pasted secret is used once, to get the first token, and then dropped. To renew the token
// without it, sign-in starts a *console session* (`POST /v1/console/sessions`): a key of its own
// kind with the token's scopes, expiring within 8 hours (sooner if the pasted key does), ended by
// the server with the key that signed in, revoked at sign-out and when the page goes away. Only a
// key that may create keys may start one, so holding its secret in memory grants nothing the
// token did not; it bounds the session instead of keeping a long-lived secret around. A key that
// may not still signs in, without renewal.

import { ApiError, requestToken, send } from './api.js';

/** Renew when this share of the token's lifetime has passed… */
const RENEW_AT = 0.75;
/** …and at the latest this long before it expires. */
const RENEW_MARGIN_MS = 5000;

let current = null;
let renewTimer = 0;
const signOutListeners = [];

/** `fn(reason, expected)` runs whenever the session ends: sign-out (expected), 401, expiry. */
export function onSignOut(fn) {
  signOutListeners.push(fn);
}

/** What the header shows, and what the key list marks as "this session". */
export function who() {
  if (!current) return null;
  const { keyId, keyName, sessionKeyId, renewable, tokenExpiresAt } = current;
  return { keyId, keyName, sessionKeyId, renewable, tokenExpiresAt };
}

/**
 * Signs in with an admin key's id and secret. Throws `ApiError` from the token endpoint or from
 * the first admin call (e.g. `org_not_bootstrapped`).
 */
export async function signIn(keyId, secret) {
  const first = await requestToken(keyId, secret);
  let token = first.access_token;
  let keyName = null;
  try {
    const own = await send('GET', `/v1/keys/${encodeURIComponent(keyId)}`, { token });
    keyName = own.name;
  } catch (e) {
    // A key may administer other keys without `admin` over itself; anything else is fatal.
    if (!(e instanceof ApiError) || e.status !== 403) throw e;
  }

  let renew = null;
  let sessionKeyId = null;
  try {
    // The server decides the session key: the scopes of this token, the key's allowed IPs, at
    // most 8 hours and never past the key's own expiry; it ends with the key (revoked, rolled or
    // re-scoped).
    const created = await send('POST', '/v1/console/sessions', { token, body: {} });
    sessionKeyId = created.key.id;
    const sessionSecret = created.secret;
    renew = () => requestToken(sessionKeyId, sessionSecret);
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 403 && e.status !== 409)) throw e;
    // This key may not start sessions (no admin over keys): the session lasts as long as the
    // first token.
  }
  let expiresIn = first.expires_in;
  if (renew) {
    const renewed = await renew();
    token = renewed.access_token;
    expiresIn = renewed.expires_in;
  }
  current = {
    token,
    keyId,
    keyName,
    sessionKeyId,
    renew,
    renewable: Boolean(renew),
    tokenExpiresAt: Date.now() + expiresIn * 1000,
    issuedAt: Date.now(),
  };
  schedule();
}

function schedule() {
  clearTimeout(renewTimer);
  if (!current) return;
  const now = Date.now();
  const lifetime = current.tokenExpiresAt - current.issuedAt;
  if (!current.renew) {
    renewTimer = setTimeout(() => end('Your access token expired. Sign in again.'),
      Math.max(0, current.tokenExpiresAt - now));
    return;
  }
  const at = Math.min(current.issuedAt + lifetime * RENEW_AT, current.tokenExpiresAt - RENEW_MARGIN_MS);
  renewTimer = setTimeout(renewNow, Math.max(0, at - now));
}

async function renewNow() {
  const session = current;
  if (!session) return;
  try {
    const t = await session.renew();
    if (current !== session) return;
    session.token = t.access_token;
    session.issuedAt = Date.now();
    session.tokenExpiresAt = session.issuedAt + t.expires_in * 1000;
    schedule();
  } catch (e) {
    if (current !== session) return;
    if (e instanceof ApiError && e.status !== 0 && e.status < 500) {
      end('Your console session ended (its session key was revoked or has expired). Sign in again.');
    } else if (Date.now() + 2000 < session.tokenExpiresAt) {
      renewTimer = setTimeout(renewNow, 2000);
    } else {
      end('Your session expired while the server could not be reached. Sign in again.');
    }
  }
}

/** Forgets the session and tells the listeners why. */
function end(reason, expected = false) {
  clearTimeout(renewTimer);
  current = null;
  for (const fn of signOutListeners) fn(reason, expected);
}

/** Signs out: revokes the session key (so its secret is worthless), then forgets everything. */
export async function signOut(reason = 'You are signed out.') {
  const session = current;
  if (session?.sessionKeyId) {
    try {
      await send('POST', `/v1/keys/${session.sessionKeyId}/revoke`, { token: session.token });
    } catch {
      // It expires by itself within hours; signing out must not fail.
    }
  }
  end(reason, true);
}

/**
 * An admin API call with the session's token. A 401 means the token or the key behind it no
 * longer works: the session ends (and the call still throws, for the caller's message).
 */
export async function api(method, path, options = {}) {
  if (!current) throw new ApiError(401, { detail: 'Not signed in.' });
  try {
    return await send(method, path, { ...options, token: current.token });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      end('Your session ended: the server no longer accepts its token (the key may have been revoked or expired). Sign in again.');
    }
    throw e;
  }
}

// Leaving the page (close, reload, navigation) ends the session: revoke the session key on the
// way out, best effort (`keepalive` lets the request outlive the page).
addEventListener('pagehide', () => {
  if (current?.sessionKeyId) {
    send('POST', `/v1/keys/${current.sessionKeyId}/revoke`, { token: current.token, keepalive: true })
      .catch(() => {});
  }
});
addEventListener('pageshow', (event) => {
  if (event.persisted && current) end('The page was left; sign in again.');
});
