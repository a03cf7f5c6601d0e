// A test OpenID Connect provider on loopback: panva's oidc-provider (OpenID Certified),
// with its own login and consent pages and two users.  Started by tools/oidc/up.
//
// Configuration (environment, set by tools/oidc/up):
//   OIDC_PORT                  port on 127.0.0.1 (required)
//   OIDC_CLIENT_ID             the relying party's client id (default: tcup)
//   OIDC_CLIENT_SECRET         its secret (default: tcup-test-secret)
//   OIDC_REDIRECT_URIS         comma-separated redirect URIs the client may use
//   OIDC_POST_LOGOUT_URIS      comma-separated post-logout redirect URIs
//   OIDC_CLOCK_SKEW            seconds added to this provider's clock (negative: behind);
//                              with OIDC_ID_TOKEN_TTL shorter than the skew, every ID token
//                              it issues has already expired by everybody else's clock
//   OIDC_ID_TOKEN_TTL          ID token lifetime in seconds (default 3600)
//   OIDC_ALIAS_PATH            a path such as /renamed: discovery under it (ALIAS/.well-known/
//                              openid-configuration) is this provider's own document with
//                              "issuer" = <issuer>ALIAS, and without the RFC 9207 flag
//                              (authorization_response_iss_parameter_supported); everything else
//                              (the endpoints, the keys, the tokens' "iss") stays the real
//                              provider's.
//                              A relying party configured with that issuer gets ID tokens from
//                              another issuer than the one it trusts.
//
// Users (login name / password -> claims):
//   stella / stella-pass   sub staff-0001,  groups [tcup-staff, everyone]
//   victor / victor-pass   sub vendor-0001, groups [everyone]
import crypto from 'node:crypto';
import http from 'node:http';

const skew = Number(process.env.OIDC_CLOCK_SKEW || 0) * 1000;
if (skew) {
  const realNow = Date.now;
  Date.now = () => realNow() + skew;
}

const { default: Provider } = await import('oidc-provider');

const port = Number(process.env.OIDC_PORT);
if (!port) {
  console.error('OIDC_PORT is required');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const list = (value) => (value || '').split(',').map((s) => s.trim()).filter(Boolean);
const aliasPath = (process.env.OIDC_ALIAS_PATH || '').replace(/\/$/, '');

const USERS = {
  stella: {
    password: 'stella-pass',
    claims: {
      sub: 'staff-0001',
      name: 'Stella Staff',
      preferred_username: 'stella',
      email: 'stella@example.test',
      email_verified: true,
      groups: ['tcup-staff', 'everyone'],
    },
  },
  victor: {
    password: 'victor-pass',
    claims: {
      sub: 'vendor-0001',
      name: 'Victor Vendor',
      preferred_username: 'victor',
      email: 'victor@example.test',
      email_verified: true,
      groups: ['everyone'],
    },
  },
};
const BY_SUB = Object.fromEntries(Object.values(USERS).map((u) => [u.claims.sub, u]));

const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const jwk = { ...signingKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>${escape(title)} · test identity provider</title></head>
<body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;

const configuration = {
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID || 'tcup',
      client_secret: process.env.OIDC_CLIENT_SECRET || 'tcup-test-secret',
      redirect_uris: list(process.env.OIDC_REDIRECT_URIS),
      post_logout_redirect_uris: list(process.env.OIDC_POST_LOGOUT_URIS),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  pkce: { required: () => true },
  ttl: {
    IdToken: Number(process.env.OIDC_ID_TOKEN_TTL || 3600),
    // long enough that a skewed clock does not expire the interaction cookies at once
    Interaction: 86400,
  },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Sign out', `${form}
<p>Sign out of the test identity provider?</p>
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Signed out', '<p>You are signed out of the test identity provider.</p>');
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, sub) => {
    const user = BY_SUB[sub];
    if (!user) return undefined;
    return { accountId: sub, claims: async () => ({ ...user.claims }) };
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Error', `<p>${escape(out.error)}: ${escape(out.error_description || '')}</p>`);
  },
};

const provider = new Provider(issuer, configuration);
const callback = provider.callback();

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function interaction(req, res, url) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;
  const action = url.pathname.split('/')[3] || '';
  if (req.method === 'GET' && prompt.name === 'login') {
    return send(res, 200, page('Sign in', `
<form method="post" action="/interaction/${uid}/login">
<label>Login <input name="login" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>`));
  }
  if (req.method === 'GET' && prompt.name === 'consent') {
    return send(res, 200, page('Allow access', `
<p>${escape(params.client_id)} asks for: ${escape(params.scope)}</p>
<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Deny</button></form>`));
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const user = USERS[form.get('login') || ''];
    if (!user || user.password !== form.get('password')) {
      return send(res, 401, page('Sign in', `<p class="error">Wrong login or password.</p>
<form method="post" action="/interaction/${uid}/login">
<label>Login <input name="login" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form>`));
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.claims.sub } }, {
      mergeWithLastSubmission: false,
    });
  }
  if (req.method === 'POST' && action === 'confirm') {
    const { session, grantId } = details;
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const saved = await grant.save();
    return provider.interactionFinished(req, res, { consent: grantId ? {} : { grantId: saved } }, {
      mergeWithLastSubmission: true,
    });
  }
  if (req.method === 'POST' && action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }
  return send(res, 400, page('Error', '<p>Unexpected interaction request.</p>'));
}

async function aliasDiscovery(req, res) {
  // The thin "proxy" of OIDC_ALIAS_PATH: the real discovery document, one field changed.
  const real = await fetch(`${issuer}/.well-known/openid-configuration`);
  const doc = await real.json();
  doc.issuer = `${issuer}${aliasPath}`;
  delete doc.authorization_response_iss_parameter_supported; // as a provider before RFC 9207
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(doc));
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (url.pathname.startsWith('/interaction/')) return await interaction(req, res, url);
    if (aliasPath && url.pathname === `${aliasPath}/.well-known/openid-configuration`) {
      return await aliasDiscovery(req, res);
    }
    return callback(req, res);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) send(res, 400, page('Error', `<p>${escape(err.message)}</p>`));
  }
});
server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ${issuer} ready${skew ? ` (clock skew ${skew / 1000} s)` : ''}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
