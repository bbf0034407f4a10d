// HelseID's token service for the interop test: panva's oidc-provider on loopback, configured the
// way HelseID behaves in late 2026 (HELSEID.md, "HelseID as it behaves in late 2026"):
//
// - client_credentials only, clients authenticate with private_key_jwt (PS256/384/512, ES256/384/512);
//   the assertion's typ must be client-authentication+jwt, its aud the issuer, its jti is used once;
// - every token call carries a DPoP proof with the server's nonce (use_dpop_nonce first), and the
//   access token is bound to the proof's key (cnf.jkt);
// - access tokens are JWTs signed PS256, for one audience: the audience is the part of the scopes
//   before the first "/", and scopes of two audiences in one call are refused (invalid_target);
// - the organisation a token is for comes from the client assertion's assertion_details
//   (multi-tenant; a single-tenant client's organisation is fixed) and goes into the token as
//   helseid://claims/client/claims/orgnr_parent (and orgnr_child); an organisation that is not
//   one of the client's tenants, or a scope that tenant does not have, is refused.
//
// Started by tests/helseid_sts/server.py with a JSON config file:
//   { "port": 0, "issuer": "http://127.0.0.1:PORT", "jwks": {"keys": [<private RSA JWK, alg PS256>]} }
// Clients are registered at run time, in the shape HelseID's client registry (the portal's
// backing-services simulator) holds them: PUT /__test__/clients {"clients": [{clientId, tenancy,
// enabled, keys: [public JWK], tenants: [{organizationNumber, scopes}]}]}. Nothing else is test-only.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';

import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const CLAIMS = 'helseid://claims/client/claims/';
const ORGNR = /^NO:ORGNR:(\d{9})(?::(\d{9}))?$/;

// clientId → the client as the registry holds it.
let registry = new Map();

const audienceOf = (scope) => scope.split('/', 1)[0];
const clientScopes = (entry) => [...new Set(entry.tenants.flatMap((t) => t.scopes ?? []))];

function metadata(entry) {
  return {
    client_id: entry.clientId,
    client_name: entry.name || entry.clientId,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: entry.keys },
    // No `scope` here: API scopes belong to resource servers (getResourceServerInfo), per tenant below.
    dpop_bound_access_tokens: true,
    id_token_signed_response_alg: 'PS256', // the only key the token service has is for PS256
  };
}

// An in-memory adapter; clients come from the registry, as HelseID's come from its own.
const stores = new Map();
class Adapter {
  constructor(name) {
    this.name = name;
    if (!stores.has(name)) stores.set(name, new Map());
    this.store = stores.get(name);
  }

  async find(id) {
    if (this.name === 'Client') {
      const entry = registry.get(id);
      return entry && entry.enabled !== false ? metadata(entry) : undefined;
    }
    const item = this.store.get(id);
    if (!item || (item.expiresAt && item.expiresAt < Date.now())) return undefined;
    return item.payload;
  }

  async upsert(id, payload, expiresIn) {
    this.store.set(id, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
  }

  async consume(id) {
    const item = this.store.get(id);
    if (item) item.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) { this.store.delete(id); }

  async findByUid() { return undefined; }

  async findByUserCode() { return undefined; }

  async revokeByGrantId() {}
}

// The organisation a token call is for: { parent, child } from assertion_details, or the
// single-tenant client's own; throws the refusal HelseID gives.
function organisationFor(ctx, entry) {
  const assertion = ctx.oidc.params.client_assertion;
  const header = jose.decodeProtectedHeader(assertion);
  if (header.typ !== 'client-authentication+jwt') {
    throw new errors.InvalidClient('the client assertion must have typ client-authentication+jwt');
  }
  const details = jose.decodeJwt(assertion).assertion_details;
  let named;
  if (details !== undefined) {
    const authorization = Array.isArray(details) ? details.find((d) => d?.type === 'helseid_authorization') : undefined;
    const identifier = authorization?.practitioner_role?.organization?.identifier;
    const match = identifier && identifier.system === 'urn:oid:1.0.6523' && identifier.type === 'ENH'
      ? ORGNR.exec(String(identifier.value)) : null;
    if (!match) {
      throw new errors.InvalidRequest('assertion_details must hold a helseid_authorization with an ENH organisation identifier (urn:oid:1.0.6523, NO:ORGNR:<parent>[:<child>])');
    }
    named = { parent: match[1], child: match[2] };
  }
  if (entry.tenancy === 'multi-tenant') {
    if (!named) throw new errors.InvalidRequest('a multi-tenant client must name the organisation in assertion_details');
    return named;
  }
  const own = entry.tenants[0]?.organizationNumber;
  if (named && named.parent !== own) {
    throw new errors.UnauthorizedClient('a single-tenant client acts for its own organisation only');
  }
  return { parent: own, child: named?.child };
}

const provider = new Provider(config.issuer, {
  adapter: Adapter,
  jwks: config.jwks,
  routes: { token: '/connect/token', jwks: '/.well-known/openid-configuration/jwks' },
  scopes: [],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
    resourceIndicators: {
      enabled: true,
      // HelseID takes the audience from the scopes; one audience per token.
      defaultResource(ctx) {
        const scopes = String(ctx.oidc.params.scope ?? '').split(' ').filter(Boolean);
        const audiences = [...new Set(scopes.map(audienceOf))];
        if (audiences.length > 1) {
          throw new errors.InvalidTarget('the scopes are for more than one API: ask for one token per API');
        }
        return audiences[0];
      },
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resource, client) {
        const entry = registry.get(client.clientId);
        const scope = clientScopes(entry).filter((s) => audienceOf(s) === resource);
        if (!scope.length) throw new errors.InvalidTarget('the client has no scope for this API');
        return {
          scope: scope.join(' '),
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'PS256' } },
        };
      },
    },
  },
  enabledJWA: {
    clientAuthSigningAlgValues: ['PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'],
    dPoPSigningAlgValues: ['PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'RS256'],
  },
  clientAuthMethods: ['private_key_jwt'],
  async extraTokenClaims(ctx, token) {
    if (token.kind !== 'ClientCredentials') return undefined;
    const entry = registry.get(token.clientId);
    const { parent, child } = organisationFor(ctx, entry);
    const tenant = entry.tenants.find((t) => t.organizationNumber === parent);
    if (!tenant) {
      throw new errors.UnauthorizedClient(`the client may not act for organisation ${parent}`);
    }
    const requested = String(ctx.oidc.params.scope ?? '').split(' ').filter(Boolean);
    const missing = requested.filter((s) => !(tenant.scopes ?? []).includes(s));
    if (missing.length) {
      throw new errors.InvalidScope(`organisation ${parent} has not given the client this scope`, missing.join(' '));
    }
    return {
      [`${CLAIMS}orgnr_parent`]: parent,
      ...(child ? { [`${CLAIMS}orgnr_child`]: child } : {}),
      [`${CLAIMS}client_tenancy`]: entry.tenancy,
      [`${CLAIMS}orgnr_supplier`]: entry.supplier ?? undefined,
    };
  },
  ttl: { ClientCredentials: 300 },
});
provider.proxy = false;

provider.on('server_error', (ctx, error) => console.error('server_error', error));

const callback = provider.callback();

function readJson(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => { try { resolve(JSON.parse(body)); } catch (error) { reject(error); } });
    req.on('error', reject);
  });
}

const server = createServer(async (req, res) => {
  try {
    if (req.url === '/__test__/clients' && req.method === 'PUT') {
      const { clients } = await readJson(req);
      registry = new Map(clients.map((c) => [c.clientId, c]));
      res.writeHead(204).end();
    } else {
      callback(req, res);
    }
  } catch (error) {
    console.error(error);
    if (!res.headersSent) res.writeHead(500).end(String(error));
  }
});

server.listen(config.port, '127.0.0.1', () => {
  console.log(`helseid-sts listening on ${config.issuer}`);
});
