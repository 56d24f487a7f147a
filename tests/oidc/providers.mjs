// Two OpenID providers on loopback for the functional tests, started by them:
//  - "real": the oidc-provider package (a certified OpenID Provider) with its development login
//    pages. Account "<name>" signs in as <name>@example.com with a verified address;
//    "unverified-<name>" as <name>@example.com without.
//  - "crafted": a minimal provider under the tests' control whose token endpoint issues ID tokens
//    with whatever header, claims and signature the current scenario asks for (the attacks the
//    server must refuse). POST /scenario sets it, POST /keys rotates the published keys, GET /stats
//    counts key fetches and PKCE checks.
// Usage: node providers.mjs REDIRECT_BASE CLIENT_SECRET; prints {"real": URL, "crafted": URL}.
import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const [redirectBase, clientSecret] = process.argv.slice(2);
const clientId = 'beta500';

function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

// --- the real provider ------------------------------------------------------------------------
let realHandler = (req, res) => res.end();
const real = await listen((req, res) => realHandler(req, res));
const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const oidc = new Provider(real.url, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [`${redirectBase}/real/callback`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [{ ...signingKey, kid: 'real-1', use: 'sig', alg: 'RS256' }] },
  pkce: { required: () => true, methods: ['S256'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  conformIdTokenClaims: false,
  cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const unverified = id.startsWith('unverified-');
    const name = unverified ? id.slice('unverified-'.length) : id;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${name}@example.com`, email_verified: !unverified, name };
      },
    };
  },
  // First-party client: no consent screen.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});
realHandler = oidc.callback();

// --- the crafted provider ---------------------------------------------------------------------
const crafted = await listen(handleCrafted);
const rsa = () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const keys = {
  'crafted-1': { kty: 'RSA', ...rsa() },
  'crafted-ec': { kty: 'EC', ...crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }) },
};
let published = ['crafted-1', 'crafted-ec'];
const attackerKey = rsa();
let scenario = {};
const codes = new Map();  // code -> { nonce, challenge }
const stats = { jwks_fetches: 0, pkce_ok: 0, pkce_failed: 0 };

const b64url = (data) => Buffer.from(data).toString('base64url');

function publicJwk(kid) {
  return { ...keys[kid].publicKey.export({ format: 'jwk' }), kid, use: 'sig' };
}

function sign(headerObject, claims, how) {
  const signingInput = `${b64url(JSON.stringify(headerObject))}.${b64url(JSON.stringify(claims))}`;
  let signature;
  switch (how) {
    case 'none': signature = ''; break;
    case 'hs256-public-key': {
      // The provider's public key (PEM) used as an HMAC secret: the classic algorithm confusion.
      const secret = keys['crafted-1'].publicKey.export({ type: 'spki', format: 'pem' });
      signature = crypto.createHmac('sha256', secret).update(signingInput).digest();
      break;
    }
    case 'attacker': signature = crypto.sign('sha256', Buffer.from(signingInput), attackerKey.privateKey); break;
    case 'es256':
      signature = crypto.sign('sha256', Buffer.from(signingInput), { key: keys[headerObject.kid].privateKey, dsaEncoding: 'ieee-p1363' });
      break;
    case 'ps256':
      signature = crypto.sign('sha256', Buffer.from(signingInput), {
        key: keys[headerObject.kid].privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32,
      });
      break;
    default: signature = crypto.sign('sha256', Buffer.from(signingInput), keys[headerObject.kid].privateKey);
  }
  let token = `${signingInput}.${b64url(signature)}`;
  if (scenario.flip_signature) {
    const last = token.length - 5;
    token = token.slice(0, last) + (token[last] === 'A' ? 'B' : 'A') + token.slice(last + 1);
  }
  return token;
}

function idToken(nonce) {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: crafted.url, aud: clientId, sub: scenario.sub ?? 'crafted-user', email: scenario.email ?? 'mallory@example.com',
    email_verified: true, nonce: scenario.nonce ?? nonce, iat: now, exp: now + 300, ...(scenario.claims ?? {}),
  };
  for (const name of scenario.drop ?? []) delete claims[name];
  if (scenario.pad) claims.pad = 'x'.repeat(scenario.pad);
  const header = { alg: 'RS256', typ: 'JWT', kid: 'crafted-1', ...(scenario.header ?? {}) };
  for (const name of scenario.drop_header ?? []) delete header[name];
  return sign(header, claims, scenario.sign);
}

function readBody(req) {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(body));
  });
}

function json(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function handleCrafted(req, res) {
  const url = new URL(req.url, crafted.url);
  if (url.pathname === '/.well-known/openid-configuration') {
    return json(res, 200, {
      issuer: crafted.url, authorization_endpoint: `${crafted.url}/authorize`, token_endpoint: `${crafted.url}/token`,
      jwks_uri: `${crafted.url}/jwks`, response_types_supported: ['code'], subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256', 'PS256', 'ES256'], code_challenge_methods_supported: ['S256'],
    });
  }
  if (url.pathname === '/jwks') {
    stats.jwks_fetches += 1;
    return json(res, 200, { keys: published.map(publicJwk) });
  }
  if (url.pathname === '/authorize') {
    const code = crypto.randomBytes(16).toString('base64url');
    codes.set(code, { nonce: url.searchParams.get('nonce'), challenge: url.searchParams.get('code_challenge') });
    const back = new URL(url.searchParams.get('redirect_uri'));
    back.searchParams.set('code', code);
    back.searchParams.set('state', url.searchParams.get('state'));
    res.writeHead(303, { location: back.toString() });
    return res.end();
  }
  if (url.pathname === '/token' && req.method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    const grant = codes.get(form.get('code'));
    codes.delete(form.get('code'));
    const expected = `Basic ${Buffer.from(`${clientId}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
    if (!grant || req.headers.authorization !== expected) return json(res, 400, { error: 'invalid_grant' });
    const verifier = form.get('code_verifier') ?? '';
    if (crypto.createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) {
      stats.pkce_failed += 1;
      return json(res, 400, { error: 'invalid_grant' });
    }
    stats.pkce_ok += 1;
    return json(res, 200, { access_token: 'unused', token_type: 'Bearer', expires_in: 60, id_token: idToken(grant.nonce) });
  }
  if (url.pathname === '/scenario' && req.method === 'POST') {
    scenario = JSON.parse(await readBody(req) || '{}');
    if (scenario.header?.jwk === 'attacker') scenario.header.jwk = attackerKey.publicKey.export({ format: 'jwk' });
    return json(res, 200, scenario);
  }
  if (url.pathname === '/keys' && req.method === 'POST') {
    const change = JSON.parse(await readBody(req));
    if (change.add) keys[change.add] = { kty: 'RSA', ...rsa() };
    published = change.publish;
    return json(res, 200, { published });
  }
  if (url.pathname === '/stats') return json(res, 200, stats);
  res.writeHead(404);
  return res.end();
}

process.stdout.write(`${JSON.stringify({ real: real.url, crafted: crafted.url })}\n`);
