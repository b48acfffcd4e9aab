// jose v6 as a resource server across signing-key rotations, with createRemoteJWKSet's defaults: it
// caches the JWKS and, for an unknown kid, refetches it at most every 30 s. A promotion signs with
// the next key, already in the cached set, so a token of it verifies at once; an immediate
// (compromise) rotation signs with a fresh key, which the cached set refuses until the cooldown
// has passed (what the API's `verifiers_may_refuse` warning says), while a fresh fetch accepts it.
// A token signed before both rotations still verifies. Run by tests/interop.rs from
// target/interop/node with INTEROP_ISSUER, INTEROP_CLIENT_ID, INTEROP_CLIENT_SECRET and
// INTEROP_ADMIN_SECRET set. Prints one JSON line on success.
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

const ISSUER = process.env.INTEROP_ISSUER;
const CLIENT_ID = process.env.INTEROP_CLIENT_ID;
const CLIENT_SECRET = process.env.INTEROP_CLIENT_SECRET;
const ADMIN_SECRET = process.env.INTEROP_ADMIN_SECRET;

function check(condition, message, context) {
  if (!condition) {
    throw new Error(`CHECK FAILED: ${message}${context === undefined ? '' : ` ${JSON.stringify(context)}`}`);
  }
}

async function token() {
  const r = await fetch(`${ISSUER}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const body = await r.json();
  check(r.status === 200, 'token status', body);
  return body.access_token;
}

async function rotate(body) {
  const r = await fetch(`${ISSUER}/v1/signing-keys/rotate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const rotation = await r.json();
  check(r.status === 201, 'rotate status', rotation);
  return rotation;
}

const md = await (await fetch(`${ISSUER}/.well-known/oauth-authorization-server`)).json();
const JWKS = createRemoteJWKSet(new URL(md.jwks_uri));
const options = {
  issuer: ISSUER,
  audience: ISSUER,
  typ: 'at+jwt',
  algorithms: ['EdDSA', 'RS256', 'ES256'],
  requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope'],
};
const out = {};
async function verified(name, jwt, keySet) {
  const { payload, protectedHeader } = await jwtVerify(jwt, keySet, options);
  out[name] = { alg: protectedHeader.alg, kid: protectedHeader.kid, sub: payload.sub };
}

const before = await token();
await verified('before', before, JWKS);

const promotion = await rotate({});
const after = await token();
check(decodeProtectedHeader(after).kid === promotion.signing_key.kid, 'the next key signs', promotion);
await verified('after', after, JWKS);

const immediate = await rotate({ alg: 'ES256', immediate: true });
check(immediate.warnings[0]?.code === 'verifiers_may_refuse', 'the warning', immediate);
const fresh = await token();
check(decodeProtectedHeader(fresh).kid === immediate.signing_key.kid, 'the fresh key signs', immediate);
try {
  await jwtVerify(fresh, JWKS, options);
  out.cached_refused = false;
} catch (e) {
  out.cached_refused = e.code;
}
await verified('immediate', fresh, createRemoteJWKSet(new URL(md.jwks_uri)));
await verified('before_again', before, createRemoteJWKSet(new URL(md.jwks_uri)));
const jwks = await (await fetch(md.jwks_uri)).json();
out.published = jwks.keys.length;

console.log(JSON.stringify(out));
