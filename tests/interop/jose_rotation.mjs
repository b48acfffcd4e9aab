// jose v6 as a resource server across a signing-key rotation: a token signed before the rotation
// still verifies against the JWKS served after it, next to a token of the new (ES256) key. Run by
// tests/interop.rs from target/interop/node with INTEROP_ISSUER, INTEROP_CLIENT_ID,
// INTEROP_CLIENT_SECRET and INTEROP_ADMIN_SECRET set. Prints one JSON line on success.
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

const before = await token();

const rotated = await fetch(`${ISSUER}/v1/signing-keys/rotate`, {
  method: 'POST',
  headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' },
  body: JSON.stringify({ alg: 'ES256' }),
});
const rotation = await rotated.json();
check(rotated.status === 201, 'rotate status', rotation);

const after = await token();
check(decodeProtectedHeader(after).kid === rotation.signing_key.kid, 'the new key signs', rotation);

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
for (const [name, jwt] of [['before', before], ['after', after]]) {
  const { payload, protectedHeader } = await jwtVerify(jwt, JWKS, options);
  out[name] = { alg: protectedHeader.alg, kid: protectedHeader.kid, sub: payload.sub };
}
const jwks = await (await fetch(md.jwks_uri)).json();
out.published = jwks.keys.length;

console.log(JSON.stringify(out));
