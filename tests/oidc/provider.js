// The OpenID provider of the sign-in tests: the OpenID-certified `oidc-provider` package,
// configured from the environment by tests/support/oidc.py, on 127.0.0.1.
//
//   OIDC_PORT           port to listen on
//   OIDC_ISSUER         the issuer it names itself (http://127.0.0.1:<port>)
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URIS (comma-separated)
//   OIDC_ACCOUNTS       JSON object: account id (what one types as "login" on the provider's
//                       own login page, and the subject) -> its claims
//                       {email, email_verified, name}
//
// A test may ask it to misbehave the way a wrong or hostile provider would, with
// POST /__test/mode {"mode": ...}: the token endpoint then answers with an ID token
// re-signed with the provider's own key (or another one) after changing a claim:
//   wrong_issuer, wrong_audience, expired, no_nonce, wrong_nonce, foreign_key, drop_email
//   (the e-mail only in userinfo), no_email (nowhere: userinfo's answer loses it too);
//   "" for none.
// Everything else is oidc-provider as shipped, with its development login and consent pages.
import http from 'node:http';
import * as jose from 'jose';
import { Provider } from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = process.env.OIDC_ISSUER;
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}');
const KID = 'classroom-test-1';

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signing = { ...(await jose.exportJWK(privateKey)), kid: KID, alg: 'RS256', use: 'sig' };
const other = (await jose.generateKeyPair('RS256', { extractable: true })).privateKey;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID,
      client_secret: process.env.OIDC_CLIENT_SECRET,
      redirect_uris: (process.env.OIDC_REDIRECT_URIS || '').split(',').filter(Boolean),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signing] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The ID token carries the e-mail (as Entra ID's and Feide's do), not only userinfo.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['classroom-test-cookie-key'] },
  async findAccount(_ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
});

let mode = '';

provider.use(async (ctx, next) => {
  await next();
  if (mode === 'no_email' && ctx.path === '/me' && ctx.body && typeof ctx.body === 'object') {
    const { email, email_verified, ...rest } = ctx.body;
    ctx.body = rest;
    return;
  }
  if (!mode || ctx.path !== '/token' || !ctx.body || !ctx.body.id_token) return;
  const claims = jose.decodeJwt(ctx.body.id_token);
  const now = Math.floor(Date.now() / 1000);
  let key = privateKey;
  if (mode === 'wrong_issuer') claims.iss = `${issuer}/someone-else`;
  if (mode === 'wrong_audience') claims.aud = 'another-client';
  if (mode === 'expired') { claims.iat = now - 7200; claims.exp = now - 3600; }
  if (mode === 'no_nonce') delete claims.nonce;
  if (mode === 'wrong_nonce') claims.nonce = 'not-the-one-sent';
  if (mode === 'foreign_key') key = other;
  if (mode === 'drop_email' || mode === 'no_email') { delete claims.email; delete claims.email_verified; }
  const idToken = await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'JWT' })
    .sign(key);
  ctx.body = { ...ctx.body, id_token: idToken };
});

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/__test/mode') {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      mode = JSON.parse(body || '{}').mode || '';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ mode }));
    });
    return;
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`oidc-provider listening on ${issuer}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
