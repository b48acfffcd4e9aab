// RFC 8707 resource indicators through openid-client v6 and jose v6, against a server started
// with --audience https://api.example.com --audience https://billing.example.com. Same
// environment as openid_client.mjs; prints one JSON line on success.
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';

const ISSUER = process.env.INTEROP_ISSUER;
const CLIENT_ID = process.env.INTEROP_CLIENT_ID;
const CLIENT_SECRET = process.env.INTEROP_CLIENT_SECRET;
const API = 'https://api.example.com';
const BILLING = 'https://billing.example.com';

function check(condition, message, context) {
  if (!condition) {
    throw new Error(`CHECK FAILED: ${message}${context === undefined ? '' : ` ${JSON.stringify(context)}`}`);
  }
}

const config = await client.discovery(
  new URL(ISSUER), CLIENT_ID, undefined, client.ClientSecretBasic(CLIENT_SECRET),
  { execute: [client.allowInsecureRequests], timeout: 10 },
);
const JWKS = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
const verify = (token, audience) => jwtVerify(token, JWKS, {
  issuer: ISSUER, audience, typ: 'at+jwt', algorithms: ['EdDSA'],
});

// No resource: the first audience, as a string.
const plain = await client.clientCredentialsGrant(config);
const defaultAud = decodeJwt(plain.access_token).aud;

// One resource (a plain object: one value).
const one = await client.clientCredentialsGrant(config, { resource: BILLING });
const oneAud = decodeJwt(one.access_token).aud;
await verify(one.access_token, BILLING);

// Two resources: URLSearchParams keeps the repeated parameter.
const both = await client.clientCredentialsGrant(
  config, new URLSearchParams([['resource', API], ['resource', BILLING]]),
);
const bothAud = decodeJwt(both.access_token).aud;
const verifiedFor = [];
for (const audience of [API, BILLING]) {
  const { payload } = await verify(both.access_token, audience);
  check(Array.isArray(payload.aud), 'aud of two resources is an array', payload);
  verifiedFor.push(audience);
}
let wrongAudience;
try {
  await verify(both.access_token, 'https://other.example.com');
} catch (e) {
  wrongAudience = e.code;
}
check(wrongAudience === 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'another audience is refused', wrongAudience);

// A resource that is not an audience.
let unknown;
try {
  await client.clientCredentialsGrant(config, { resource: 'https://other.example.com' });
} catch (e) {
  if (!(e instanceof client.ResponseBodyError)) throw e;
  unknown = { status: e.status, error: e.error };
}
check(unknown !== undefined, 'an unknown resource is refused');

console.log(JSON.stringify({
  default_aud: defaultAud,
  one_aud: oneAud,
  both_aud: bothAud,
  both_verified_for: verifiedFor,
  unknown,
}));
