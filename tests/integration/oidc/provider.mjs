// provider.mjs — a loopback OpenID Provider for the integration tests
// (tests/integration/test_oidc.py), on the `oidc-provider` npm package
// pinned in package.json / package-lock.json. Never deployed: http issuer,
// development interactions (a login form that takes any password for the
// accounts below, then a consent form), keys made at start.
//
//   node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// Prints "ready <issuer>" on standard output once it listens.
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
if (!redirectUri) {
  console.error('usage: node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI');
  process.exit(2);
}

// The accounts a tester can sign in as, with their `groups` claim.
const accounts = {
  alice: { name: 'Alice', groups: ['media-editors', 'staff'] },
  bob: { name: 'Bob', groups: ['media-viewers'] },
  // a group named with the claim delimiter in it (self-service groups)
  mallory: { name: 'Mallory', groups: ['media-viewers', 'x,media-admins'] },
  dave: { name: 'Dave', groups: ['media-admins'] },
  // the number 0 and white space inside: mod_auth_openidc 2.4.12's
  // `Require claim groups:media-admins` passes both (atoi, apr_strnatcmp)
  zed: { name: 'Zed', groups: ['media-viewers', 0, 'media- admins'] },
  // groups in the ID token as well as from userinfo (as Keycloak's group
  // mapper does by default); everyone else's groups come from userinfo only
  erin: { name: 'Erin', groups: ['media-admins'], groupsInIdToken: true },
  carol: { name: 'Carol', groups: ['media-admins', 'media-\u00e9quipe'] },
  // groups that look like media-admins / media-équipe and are not: case, a
  // long s (U+017F, which case-folds to s), a Cyrillic dze, a zero-width
  // space, a no-break space, the decomposed form (e + U+0301) of é, an empty
  // group, a number and a boolean
  trudy: {
    name: 'media-admins',
    groups: ['media-viewers', 'media-Admins', 'media-admin\u017f', 'media-admin\u0455',
      'media-admins\u200b', '\u00a0media-admins', 'media-e\u0301quipe', '', 7, true],
  },
};

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'profile', 'groups'],
  claims: { openid: ['sub'], profile: ['name'], groups: ['groups'] },
  async findAccount(ctx, id) {
    if (!Object.hasOwn(accounts, id)) return undefined;
    return {
      accountId: id,
      async claims(use) {
        const { groupsInIdToken, ...claims } = accounts[id];
        if (use === 'id_token' && !groupsInIdToken) delete claims.groups;
        return { sub: id, ...claims };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
  // scope claims may go into the ID token (claims() decides, for erin)
  conformIdTokenClaims: false,
  cookies: { keys: ['mod_media_guard-test-only'] },
});
// A group taken away at the provider (test_oidc.py, revocation):
// POST /test/groups?account=ID&remove=GROUP. Loopback and tests only.
provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/test/groups') {
    const a = Object.hasOwn(accounts, ctx.query.account) ? accounts[ctx.query.account] : null;
    if (!a) {
      ctx.status = 404;
      return;
    }
    a.groups = a.groups.filter((g) => g !== ctx.query.remove);
    ctx.status = 204;
    return;
  }
  await next();
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
