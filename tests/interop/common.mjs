// Shared by the Node interop scripts (tests/interop.rs copies every .mjs beside node_modules):
// the server under test from the environment, a check that says what failed, and the calls
// several scripts make.
import { isDeepStrictEqual } from 'node:util';

export const ISSUER = process.env.INTEROP_ISSUER;
export const CLIENT_ID = process.env.INTEROP_CLIENT_ID;
export const CLIENT_SECRET = process.env.INTEROP_CLIENT_SECRET;
export const ADMIN_SECRET = process.env.INTEROP_ADMIN_SECRET;
/** RFC 8707: when set, tokens are asked for this resource, which is then their audience. */
export const RESOURCE = process.env.INTEROP_RESOURCE || undefined;

export function check(condition, message, context) {
  if (!condition) {
    throw new Error(`CHECK FAILED: ${message}${context === undefined ? '' : ` ${JSON.stringify(context)}`}`);
  }
}

/** RFC 8414 §3.1 metadata: the well-known segment goes before the issuer's path (its "/" removed). */
export async function metadata() {
  const issuer = new URL(ISSUER);
  const r = await fetch(`${issuer.origin}/.well-known/oauth-authorization-server${issuer.pathname.replace(/\/$/, '')}`);
  check(r.status === 200, 'metadata status', r.status);
  return r.json();
}

/** A token by client credentials with HTTP Basic, for RESOURCE when set. */
export async function token(tokenEndpoint) {
  const r = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...(RESOURCE ? { resource: RESOURCE } : {}) }),
  });
  const body = await r.json();
  check(r.status === 200, 'token status', body);
  return body.access_token;
}

/** POST /v1/signing-keys/rotate as the org's admin; `body` as the API takes it. */
export async function rotate(tokenEndpoint, body) {
  const r = await fetch(tokenEndpoint.replace(/oauth\/token$/, 'v1/signing-keys/rotate'), {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  return { status: r.status, body: await r.json() };
}

/** POST /v1/keys as the org's admin with `body` as the API takes it: the status and the answer. */
export async function createKey(body) {
  const r = await fetch(`${ISSUER.replace(/\/$/, '')}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

/**
 * A key holding `publicKeys` (public JWKs with a kid) and no secret, for `private_key_jwt`.
 * Checks what the answer says about both and returns the key id.
 */
export async function createKeyWithoutSecret(name, publicKeys, scopes = ['read:projects/**']) {
  const { status, body } = await createKey({ name, scopes, secret: false, public_keys: publicKeys });
  check(status === 201, `creating key ${name}`, body);
  check(body.secret === null, `key ${name}: no secret`, body);
  check(isDeepStrictEqual(body.key.public_keys, publicKeys), `key ${name}: public_keys`, body);
  return body.key.id;
}

/** Header and claims of a compact JWS, read without verifying anything. */
export function jwtParts(jwt) {
  const [header, payload] = jwt.split('.').slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
  return { header, payload };
}
