// openid-client v6 and jose v6 against the server, as a Node.js client and resource server would
// use them. Run by tests/interop.rs from target/interop/node (where node_modules lives) with
// INTEROP_ISSUER, INTEROP_CLIENT_ID and INTEROP_CLIENT_SECRET set. Prints one JSON line on success.
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

const ISSUER = process.env.INTEROP_ISSUER;
const CLIENT_ID = process.env.INTEROP_CLIENT_ID;
const CLIENT_SECRET = process.env.INTEROP_CLIENT_SECRET;
const ALL_SCOPES = 'read:projects/** write:projects/42';

function check(condition, message, context) {
  if (!condition) {
    throw new Error(`CHECK FAILED: ${message}${context === undefined ? '' : ` ${JSON.stringify(context)}`}`);
  }
}
function checkEq(actual, expected, what) {
  check(actual === expected, `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

// The issuer is plain http on loopback, which openid-client refuses unless told otherwise.
const insecure = { execute: [client.allowInsecureRequests], timeout: 10 };

// 1. OpenID discovery (the default: /.well-known/openid-configuration); a client secret given as a
//    string means client_secret_post.
const config = await client.discovery(new URL(ISSUER), CLIENT_ID, CLIENT_SECRET, undefined, insecure);
const md = config.serverMetadata();
checkEq(md.issuer, ISSUER, 'issuer');
checkEq(md.token_endpoint, `${ISSUER}/oauth/token`, 'token_endpoint');
check(md.grant_types_supported.includes('client_credentials'), 'grant_types_supported', md);

const scoped = await client.clientCredentialsGrant(config, { scope: 'read:projects/**' });
checkEq(scoped.token_type, 'bearer', 'token_type (oauth4webapi lower-cases it)');
checkEq(scoped.scope, 'read:projects/**', 'scope');
checkEq(scoped.expires_in, 600, 'expires_in');
check(scoped.expiresIn() > 590 && scoped.expiresIn() <= 600, 'expiresIn()', scoped.expiresIn());
checkEq(scoped.refresh_token, undefined, 'refresh_token');

// 2. RFC 8414 discovery (/.well-known/oauth-authorization-server) with client_secret_basic.
const basicConfig = await client.discovery(
  new URL(ISSUER), CLIENT_ID, undefined, client.ClientSecretBasic(CLIENT_SECRET),
  { ...insecure, algorithm: 'oauth2' },
);
checkEq(basicConfig.serverMetadata().jwks_uri, `${ISSUER}/.well-known/jwks.json`, 'jwks_uri');
const full = await client.clientCredentialsGrant(basicConfig);
checkEq(full.scope, ALL_SCOPES, 'scope when none is requested');

// 3. jose as a resource server: the JWKS from discovery, RFC 9068 typ, EdDSA only.
const JWKS = createRemoteJWKSet(new URL(md.jwks_uri));
const verifyOptions = {
  issuer: ISSUER,
  audience: ISSUER,
  typ: 'at+jwt',
  algorithms: ['EdDSA'],
  requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope'],
};
const { payload, protectedHeader } = await jwtVerify(scoped.access_token, JWKS, verifyOptions);
checkEq(protectedHeader.alg, 'EdDSA', 'alg');
checkEq(protectedHeader.typ, 'at+jwt', 'typ');
checkEq(payload.sub, CLIENT_ID, 'sub');
checkEq(payload.client_id, CLIENT_ID, 'client_id');
checkEq(payload.scope, 'read:projects/**', 'scope claim');
checkEq(payload.exp - payload.iat, 600, 'exp - iat');
const second = await jwtVerify(full.access_token, JWKS, verifyOptions);
checkEq(second.payload.scope, ALL_SCOPES, 'scope claim of the unscoped token');
checkEq(decodeProtectedHeader(full.access_token).kid, protectedHeader.kid, 'same signing key');

// A token for someone else must not verify.
let wrongAudience;
try {
  await jwtVerify(scoped.access_token, JWKS, { ...verifyOptions, audience: 'https://other.example' });
} catch (e) {
  wrongAudience = e.code;
}
checkEq(wrongAudience, 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'wrong audience');

// 4. Introspection through openid-client (RFC 7662, same client authentication).
const introspection = await client.tokenIntrospection(config, scoped.access_token);
checkEq(introspection.active, true, 'introspection active');
checkEq(introspection.client_id, CLIENT_ID, 'introspection client_id');
checkEq(introspection.scope, 'read:projects/**', 'introspection scope');
const garbage = await client.tokenIntrospection(config, 'garbage');
checkEq(JSON.stringify(garbage), '{"active":false}', 'introspection of garbage');

// 5. Errors. A wrong secret is a 401 with a Basic challenge (RFC 6749 §5.2), which openid-client
//    surfaces as WWWAuthenticateChallengeError; the body still says invalid_client.
async function grantError(cfg, parameters) {
  try {
    await client.clientCredentialsGrant(cfg, parameters);
  } catch (e) {
    if (e instanceof client.WWWAuthenticateChallengeError) {
      const body = await e.response.json();
      return { kind: e.name, status: e.status, scheme: e.cause[0]?.scheme, error: body.error };
    }
    if (e instanceof client.ResponseBodyError) {
      return { kind: e.name, status: e.status, error: e.error };
    }
    throw e;
  }
  throw new Error('CHECK FAILED: expected the grant to fail');
}
// Change the last character to one it is not (a fixed replacement equals it one time in 64).
const wrongLast = CLIENT_SECRET.endsWith('x') ? 'y' : 'x';
const wrongSecret = await client.discovery(
  new URL(ISSUER), CLIENT_ID, undefined, client.ClientSecretBasic(`${CLIENT_SECRET.slice(0, -1)}${wrongLast}`),
  insecure,
);
const invalidClient = await grantError(wrongSecret);
checkEq(invalidClient.status, 401, 'wrong secret: status');
checkEq(invalidClient.error, 'invalid_client', 'wrong secret: error');
const invalidScope = await grantError(config, { scope: 'admin:projects/**' });
checkEq(invalidScope.kind, 'ResponseBodyError', 'out-of-range scope: error class');
checkEq(invalidScope.status, 400, 'out-of-range scope: status');
checkEq(invalidScope.error, 'invalid_scope', 'out-of-range scope: error');

console.log(JSON.stringify({
  discovery: { issuer: md.issuer, jwks_uri: md.jwks_uri },
  scoped: { scope: scoped.scope, expires_in: scoped.expires_in },
  full: { scope: full.scope },
  jose: { kid: protectedHeader.kid, sub: payload.sub, scope: payload.scope },
  introspection: { active: introspection.active, client_id: introspection.client_id },
  errors: { invalid_client: invalidClient, invalid_scope: invalidScope },
}));
