// A real OpenID Connect provider for the test suite: panva's oidc-provider on loopback, standing in
// for HelseID or ID-porten. Started by tests/oidc_provider/server.py with a JSON config file:
//
//   { "mode": "helseid" | "idporten", "port": 0, "issuer": "http://127.0.0.1:PORT",
//     "jwks": {"keys": [<private RSA JWK>]}, "clients": [<client metadata>], "accounts": {"<id>": {<claims>}} }
//
// Mode "helseid" is strict, as HelseID runs in late 2026: pushed authorization requests (RFC 9126)
// required, DPoP (RFC 9449) required on the token call with a server nonce (so every first proof
// gets `use_dpop_nonce`), ID tokens signed PS256 (RS256 not even offered), a client assertion's
// jti accepted once (oidc-provider's replay detection), back-channel logout tokens sent at logout.
// Mode "idporten": no PAR endpoint, no DPoP, RS256 ID tokens, back-channel logout.
//
// Test-only pieces, each marked below: a login page where the browser picks a test person (no
// password), automatic consent, and controls under /__test__/ to make the *next* answer misbehave
// once (ID token: expired, wrong nonce, foreign signature, other audience, RS256; PAR refused;
// token call: DPoP refused, nonce asked for again and again) and to read what the token endpoint
// received. The relying party under test is untouched: it talks to this provider as to the real one.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts;
const signingJwk = config.jwks.keys[0];
const strict = config.mode === 'helseid';

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: ['test-only-cookie-key-for-the-loopback-provider'] },
  pkce: { required: () => true },
  // Test only: the portal (back-channel logout URI) is on loopback, which the SSRF guard refuses.
  fetch: (url, { dispatcher, ...options }) => globalThis.fetch(url, options),
  enabledJWA: {
    idTokenSigningAlgValues: strict ? ['PS256', 'ES256'] : ['RS256', 'PS256', 'ES256'],
    dPoPSigningAlgValues: ['ES256', 'PS256'],
  },
  acrValues: ['idporten-loa-substantial', 'idporten-loa-high'],
  scopes: ['openid', 'profile', 'helseid://scopes/identity/pid', 'helseid://scopes/identity/security_level'],
  claims: {
    // ID-porten puts pid in every ID token; HelseID gives its pid and security level by scope.
    openid: ['sub', 'pid'],
    profile: ['given_name', 'family_name', 'name'],
    'helseid://scopes/identity/pid': ['helseid://claims/identity/pid'],
    'helseid://scopes/identity/security_level': ['helseid://claims/identity/security_level'],
  },
  conformIdTokenClaims: false, // scope claims in the ID token, as both real providers do
  findAccount: async (ctx, id) => {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      claims: async () => ({
        sub: id,
        pid: account.pid,
        'helseid://claims/identity/pid': account.pid,
        'helseid://claims/identity/security_level': account.security_level ?? '4',
        given_name: account.given_name,
        family_name: account.family_name,
        name: `${account.given_name} ${account.family_name}`,
      }),
    };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    pushedAuthorizationRequests: { enabled: strict, requirePushedAuthorizationRequests: strict },
    dPoP: strict
      ? { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true }
      : { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = `<!DOCTYPE html><html lang="nb"><head><meta charset="utf-8"><title>Logg ut</title></head>
          <body><main><h1>Logg ut av testleverandøren?</h1>${form}
          <button type="submit" form="op.logoutForm" name="logout" value="yes">Ja, logg ut</button></main></body></html>`;
      },
    },
  },
  // Test only: every client has consented to everything it asks for.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.params.scope ?? 'openid');
    await grant.save();
    return grant;
  },
  ttl: { IdToken: 3600, AccessToken: 3600, Session: 3600, Interaction: 600, Grant: 3600 },
});

// Test only: the next token response's ID token misbehaves in the way asked for, once; the next PAR
// or token call is refused; every token call is recorded (client assertion jti, DPoP proof).
let nextIdToken = null;
let nextPar = null;
let nextToken = null;
let tokenCalls = [];
const backchannel = [];
provider.on('grant.error', (ctx, error) => { if (error.error_detail) ctx.state.errorDetail = error.error_detail; });
provider.on('backchannel.success', (ctx, client, accountId, sid) => backchannel.push({ ok: true, client: client.clientId, sid }));
provider.on('backchannel.error', (ctx, error, client) => backchannel.push({ ok: false, client: client.clientId, error: `${error} ${error.cause ?? ''}` }));

async function tamper(idToken, mode) {
  const claims = jose.decodeJwt(idToken);
  const header = jose.decodeProtectedHeader(idToken);
  const now = Math.floor(Date.now() / 1000);
  let key = await jose.importJWK(signingJwk, header.alg);
  if (mode === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  else if (mode === 'wrong-nonce') claims.nonce = 'a-nonce-this-login-never-sent';
  else if (mode === 'wrong-audience') claims.aud = 'another-client';
  else if (mode === 'bad-signature') key = (await jose.generateKeyPair(header.alg)).privateKey;
  else if (mode === 'rs256') {
    header.alg = 'RS256';
    key = await jose.importJWK(signingJwk, 'RS256');
  }
  else throw new Error(`unknown mode ${mode}`);
  return new jose.SignJWT(claims).setProtectedHeader(header).sign(key);
}

const decodeOrNull = (jwt, decode) => { try { return jwt ? decode(jwt) : null; } catch { return null; } };

provider.use(async (ctx, next) => {
  if (ctx.path === '/request' && ctx.method === 'POST' && nextPar === 'refuse') {
    nextPar = null;
    ctx.status = 400;
    ctx.body = { error: 'invalid_request', error_description: 'pushed authorization request refused (test)' };
    return;
  }
  if (ctx.path === '/token' && ctx.method === 'POST' && nextToken) {
    const proof = ctx.get('DPoP');
    tokenCalls.push({ intercepted: nextToken, dpop: decodeOrNull(proof, jose.decodeJwt) });
    ctx.status = 400;
    if (nextToken === 'reject-dpop') {
      nextToken = null;
      ctx.body = { error: 'invalid_dpop_proof', error_description: 'DPoP proof refused (test)' };
    } else { // 'nonce-loop': a provider that asks for a new nonce every time
      ctx.set('DPoP-Nonce', randomBytes(16).toString('base64url'));
      ctx.body = { error: 'use_dpop_nonce', error_description: 'nonce is required in the DPoP proof' };
    }
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.state.errorDetail && ctx.body?.error) {
    // HelseID names the reason ("DPoP proof JWT not provided"); oidc-provider keeps it in error_detail.
    ctx.body = { ...ctx.body, error_description: ctx.state.errorDetail };
  }
  if (ctx.path === '/token' && ctx.method === 'POST') {
    const proof = ctx.get('DPoP');
    tokenCalls.push({
      status: ctx.status,
      error: ctx.body?.error ?? null,
      error_description: ctx.body?.error_description ?? null,
      token_type: ctx.body?.token_type ?? null,
      assertion: decodeOrNull(ctx.oidc?.params?.client_assertion, jose.decodeJwt),
      dpop_header: decodeOrNull(proof, jose.decodeProtectedHeader),
      dpop: decodeOrNull(proof, jose.decodeJwt),
    });
  }
  if (ctx.path === '/token' && ctx.status === 200 && nextIdToken && ctx.body?.id_token) {
    const mode = nextIdToken;
    nextIdToken = null;
    ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token, mode) };
  }
});

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

// Test only: the login page. The browser chooses a test person and a security level.
async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'POST') {
    const form = await readForm(req);
    const accountId = form.get('account');
    if (!accounts[accountId]) {
      res.writeHead(400).end('unknown test account');
      return;
    }
    await provider.interactionFinished(req, res, {
      login: { accountId, acr: form.get('acr') || 'idporten-loa-high' },
    }, { mergeWithLastSubmission: false });
    return;
  }
  const options = Object.keys(accounts)
    .map((id) => `<option value="${escape(id)}">${escape(accounts[id].given_name)} ${escape(accounts[id].family_name)}</option>`)
    .join('');
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!DOCTYPE html><html lang="nb"><head><meta charset="utf-8"><title>Testleverandør</title></head>
    <body><main><h1>Testleverandør: ${escape(details.params.client_id)}</h1>
    <form method="post" action="/interaction/${escape(uid)}">
      <label for="account">Testperson</label><select id="account" name="account">${options}</select>
      <label for="acr">Sikkerhetsnivå</label>
      <select id="acr" name="acr"><option value="idporten-loa-high">Høyt</option>
      <option value="idporten-loa-substantial">Betydelig</option></select>
      <button type="submit">Logg inn hos testleverandøren</button>
    </form></main></body></html>`);
}

const callback = provider.callback();
const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, config.issuer);
    const match = url.pathname.match(/^\/interaction\/([^/]+)$/);
    if (match) {
      await interaction(req, res, match[1]);
    } else if (url.pathname === '/__test__/next-id-token' && req.method === 'POST') {
      nextIdToken = (await readForm(req)).get('mode');
      res.writeHead(204).end();
    } else if (url.pathname === '/__test__/next-par' && req.method === 'POST') {
      nextPar = (await readForm(req)).get('mode');
      res.writeHead(204).end();
    } else if (url.pathname === '/__test__/next-token' && req.method === 'POST') {
      nextToken = (await readForm(req)).get('mode');
      res.writeHead(204).end();
    } else if (url.pathname === '/__test__/reset' && req.method === 'POST') {
      nextIdToken = null; nextPar = null; nextToken = null; tokenCalls = []; backchannel.length = 0;
      res.writeHead(204).end();
    } else if (url.pathname === '/__test__/calls' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: tokenCalls, backchannel }));
    } else {
      callback(req, res);
    }
  } catch (error) {
    console.error(error);
    if (!res.headersSent) res.writeHead(500).end(String(error));
  }
});

server.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});
