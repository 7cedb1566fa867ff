// A real OpenID Provider (npm `oidc-provider`, a certified implementation) for FMS's tests
// and for `make run`. Only the sign-in page is ours: the dev interactions accept any
// password and answer an unknown account with a 500, and the tests need a clean refusal.
//
//   PORT=9010 FMS_REDIRECT_URIS=http://127.0.0.1:5000/sso/oidc/callback node oidc-idp.mjs
//
// Environment: PORT, HOST (127.0.0.1), CLIENT_ID (fms), CLIENT_SECRET,
// CLIENT_AUTH_METHOD (how the client authenticates at the token endpoint:
// client_secret_basic, the default, or client_secret_post, which then refuses HTTP Basic
// with invalid_client — oidc-provider alone would accept either),
// FMS_REDIRECT_URIS / FMS_POST_LOGOUT_URIS (space-separated), ACCOUNTS (JSON:
// {"login": {"email": ..., "name": ..., "groups": [...], "email_verified": ...}};
// email_verified defaults to true, and null leaves the claim out). Test-only routes under /_test/
// add accounts and rotate the signing key (they exist only with FMS_IDP_TEST_ROUTES=1).
import http from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 9010);
const issuer = `http://${host}:${port}`;
const clientId = process.env.CLIENT_ID || 'fms';
const clientSecret = process.env.CLIENT_SECRET || 'fms-test-idp-client-secret';
const clientAuthMethod = process.env.CLIENT_AUTH_METHOD || 'client_secret_basic';
const redirectUris = (process.env.FMS_REDIRECT_URIS || 'http://127.0.0.1:5000/sso/oidc/callback').split(/\s+/).filter(Boolean);
const logoutUris = (process.env.FMS_POST_LOGOUT_URIS || 'http://127.0.0.1:5000/login').split(/\s+/).filter(Boolean);
const testRoutes = process.env.FMS_IDP_TEST_ROUTES === '1';
const accounts = JSON.parse(process.env.ACCOUNTS || JSON.stringify({
  alice: { email: 'alice@acme.example', name: 'Alice Admin', groups: ['fms-admins'] },
  bob: { email: 'bob@acme.example', name: 'Bob Buyer', groups: ['fms-procurement'] },
  frank: { email: 'frank@freelance.example', name: 'Frank Freelancer', groups: [] },
}));

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}
// IDP_SIGNING_KEY (a private JWK) lets the tests sign tokens as this IdP would
let signingKeys = [process.env.IDP_SIGNING_KEY ? JSON.parse(process.env.IDP_SIGNING_KEY) : newKey()];

function buildProvider() {
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      post_logout_redirect_uris: logoutUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: clientAuthMethod,
    }],
    jwks: { keys: signingKeys },
    cookies: { keys: ['fms-test-idp-cookie-key'], names: { session: 'idp_session', interaction: 'idp_interaction', resume: 'idp_resume' } },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // email and groups stay out of the ID token: FMS must read them from userinfo
    conformIdTokenClaims: true,
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() {
          const claims = { sub: id, email: account.email, email_verified: account.email_verified ?? true, name: account.name, groups: account.groups || [] };
          if (account.email_verified === null) delete claims.email_verified; // IdPs that never send it
          return claims;
        },
      };
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  return provider;
}
let provider = buildProvider();

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>Test IdP</title><h1>Test identity provider</h1>${body}`);
}
async function readForm(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return Object.fromEntries(new URLSearchParams(raw));
}
async function readJson(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return JSON.parse(raw || '{}');
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'consent') {
    // FMS is a first-party client here: grant what it asked for without a consent page
    const { prompt: { details: missing }, params, session: { accountId } } = details;
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  let error = '';
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    if (accounts[form.login]) {
      return provider.interactionFinished(req, res, { login: { accountId: form.login } }, { mergeWithLastSubmission: false });
    }
    error = '<p role="alert">Unknown account.</p>';
  }
  page(res, error ? 401 : 200, `${error}<form method="post" action="/interaction/${escape(uid)}/login">
    <label>Account <input name="login" autofocus></label>
    <label>Password <input name="password" type="password"></label>
    <button type="submit">Sign in</button></form>`);
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const match = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login))?$/);
    if (match) return await interaction(req, res, match[1], match[2]);
    if (testRoutes && url.pathname === '/_test/accounts' && req.method === 'POST') {
      Object.assign(accounts, await readJson(req));
      res.writeHead(204); return res.end();
    }
    if (testRoutes && url.pathname === '/_test/rotate' && req.method === 'POST') {
      // a new signing key first, the old one still published: what IdPs do when rotating
      signingKeys = [newKey(), ...signingKeys];
      provider = buildProvider();
      res.writeHead(204); return res.end();
    }
    if (clientAuthMethod === 'client_secret_post' && url.pathname === '/token' && req.headers.authorization) {
      // oidc-provider lets a client registered for client_secret_post use HTTP Basic too;
      // IdPs such as ADFS or Keycloak's strict clients refuse it, which is what FMS must handle
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic' });
      return res.end(JSON.stringify({ error: 'invalid_client', error_description: 'this client authenticates with client_secret_post' }));
    }
    return provider.callback()(req, res);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) page(res, 400, `<p role="alert">${escape(err.message)}</p>`);
  }
});
server.listen(port, host, () => console.log(`oidc-idp ready at ${issuer}`));
