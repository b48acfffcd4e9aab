// RFC 7009 revocation through openid-client v6, at the revocation_endpoint that discovery
// advertises; introspection must then call the token inactive. Same environment as
// openid_client.mjs.
import * as client from 'openid-client';

const ISSUER = process.env.INTEROP_ISSUER;
const CLIENT_ID = process.env.INTEROP_CLIENT_ID;
const CLIENT_SECRET = process.env.INTEROP_CLIENT_SECRET;

function checkEq(actual, expected, what) {
  if (actual !== expected) {
    throw new Error(`CHECK FAILED: ${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

const config = await client.discovery(
  new URL(ISSUER), CLIENT_ID, undefined, client.ClientSecretBasic(CLIENT_SECRET),
  { execute: [client.allowInsecureRequests], timeout: 10 },
);
checkEq(config.serverMetadata().revocation_endpoint, `${ISSUER}/oauth/revoke`, 'revocation_endpoint');

const { access_token: token } = await client.clientCredentialsGrant(config, { scope: 'read:projects/1' });
checkEq((await client.tokenIntrospection(config, token)).active, true, 'active before revocation');

await client.tokenRevocation(config, token, { token_type_hint: 'access_token' });
const after = await client.tokenIntrospection(config, token);
checkEq(JSON.stringify(after), '{"active":false}', 'introspection after revocation');

// RFC 7009 §2.2: an unknown token is not an error.
await client.tokenRevocation(config, 'no-such-token');

console.log(JSON.stringify({ revoked: true, after }));
