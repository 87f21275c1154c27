#!/usr/bin/env node
// sign.js — mint mod_media_guard signed links (token format v1) in Node.js.
//
// Node's standard library only (crypto: HMAC-SHA256, HMAC-SHA1, Ed25519).
// The normative description is docs/token-spec.md; vectors.json holds the
// test vectors this file reproduces:
//
//     node sign.js --vectors vectors.json
//
// As a module:
//
//     const { Key, signUrl } = require('./sign.js');
//     const key = Key.fromText('k2026', fs.readFileSync('k2026.key', 'utf8'));
//     const url = signUrl(key, '/photos/a.jpg?w=300', { expires: 1798761599 });
'use strict';

const crypto = require('crypto');
const fs = require('fs');

const TAG = 'mg-token-v1';
const CLAIMS = ['mg_acc', 'mg_exp', 'mg_id', 'mg_ip', 'mg_kid', 'mg_nbf', 'mg_scope', 'mg_uses']; // byte order

class TokenError extends Error {}

// ------------------------------------------------------------ encoding

function encodeWith(text, extraSafe) {
  // Over the UTF-8 bytes: unreserved (and extraSafe) stay, the rest is %XX.
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-._~]/.test(c) || extraSafe.includes(c)) out += c;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}
const tokenEncode = (s) => encodeWith(s, '/:,@');
const cookieEncode = (s) => encodeWith(s, '');

const b64url = (buf) => buf.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

// ------------------------------------------------------------ canonical form
// A signer-side subset of docs/canonical-urls.md.

function pctDecode(raw, where, plusIsSpace) {
  const bytes = [];
  for (let i = 0; i < raw.length; ) {
    // one code point (a surrogate pair stays whole: half of one is not UTF-8)
    const c = String.fromCodePoint(raw.codePointAt(i));
    if (c === '%') {
      if (!/^%[0-9A-Fa-f]{2}/.test(raw.slice(i, i + 3))) throw new TokenError('malformed percent escape in ' + where);
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      if (plusIsSpace && c === '+') bytes.push(0x20);
      else bytes.push(...Buffer.from(c, 'utf8'));
      i += c.length;
    }
  }
  const buf = Buffer.from(bytes);
  let text;
  try {
    // ignoreBOM: a leading U+FEFF is part of the name (the default drops it)
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf);
  } catch (e) {
    throw new TokenError('invalid UTF-8 in ' + where);
  }
  if (/[\x00-\x1f\x7f-\x9f]/.test(text)) throw new TokenError('control character in ' + where);
  return text;
}

function normalizeTr(text) {
  if (!text) throw new TokenError('empty transformation');
  return text
    .split(':')
    .map((step) => {
      const params = new Map();
      for (const p of step.split(',')) {
        const dash = p.indexOf('-');
        const key = dash < 0 ? '' : p.slice(0, dash);
        const value = dash < 0 ? '' : p.slice(dash + 1);
        if (!/^[a-z0-9]+$/.test(key) || !/^[A-Za-z0-9\-._~!$()*+=@]+$/.test(value))
          throw new TokenError('malformed transformation parameter ' + p);
        if (params.has(key)) throw new TokenError('duplicate transformation key ' + key);
        params.set(key, value);
      }
      return [...params.keys()].sort().map((k) => k + '-' + params.get(k)).join(',');
    })
    .join(':');
}

function parseQuery(raw) {
  // Like mg_canon: origins that also split on ';' would see another query.
  if (raw && raw.includes(';')) throw new TokenError("raw ';' in query (encode it as %3B)");
  const pairs = [];
  for (const part of (raw || '').split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const name = pctDecode(eq < 0 ? part : part.slice(0, eq), 'query', true);
    if (!name) throw new TokenError('query parameter without a name');
    pairs.push([name, eq < 0 ? '' : pctDecode(part.slice(eq + 1), 'query', true)]);
  }
  return pairs;
}

function canonicalize(rawPath, rawQuery) {
  if (!rawPath.startsWith('/')) throw new TokenError("path does not start with '/'");
  if (/[\x00-\x20\x7f\\?#]/.test(rawPath)) throw new TokenError("control byte, space, backslash, '?' or '#' in path");
  const segs = [];
  let trIndex = -1;
  let isDir = true;
  for (let raw of rawPath.split('/').slice(1)) {
    const semi = raw.indexOf(';');
    if (semi >= 0) {
      if (/%(?![0-9A-Fa-f]{2})/.test(raw.slice(semi))) throw new TokenError('malformed percent escape in path parameters');
      raw = raw.slice(0, semi);
    }
    let seg = pctDecode(raw, 'path', false);
    if (semi >= 0 && (seg === '' || seg === '.' || seg === '..'))
      throw new TokenError("dot or empty segment with ';' parameters");
    if (/[\/\\;]/.test(seg)) throw new TokenError("encoded '/', '\\' or ';' in path");
    if (raw.toUpperCase().includes('%25') && /%[0-9A-Fa-f]{2}/.test(seg)) throw new TokenError('double percent-encoding in path');
    if (seg === '' || seg === '.') {
      isDir = true;
      continue;
    }
    if (seg === '..') {
      if (segs.length === 0) throw new TokenError("'..' climbs above the root");
      if (trIndex === segs.length - 1) throw new TokenError("'..' would remove the transformation segment");
      segs.pop();
      isDir = true;
      continue;
    }
    if (/^\.+$/.test(seg)) throw new TokenError('path segment made only of dots');
    if (seg.endsWith('.') || seg.endsWith(' ')) throw new TokenError('path segment ends in a dot or a space');
    if (seg.slice(0, 3).toLowerCase() === 'tr:') {
      if (seg.slice(0, 3) !== 'tr:') throw new TokenError("transformation segment must be written 'tr:'");
      if (trIndex >= 0) throw new TokenError('more than one transformation segment');
      trIndex = segs.length;
      seg = 'tr:' + normalizeTr(seg.slice(3));
    }
    segs.push(seg);
    isDir = false;
  }
  const params = parseQuery(rawQuery);
  if (params.some(([n]) => n.toLowerCase() === 'tr' && n !== 'tr')) throw new TokenError("transformation parameter must be 'tr'");
  const trValues = params.filter(([n]) => n === 'tr').map(([, v]) => v);
  if (trValues.length > 1 || (trValues.length && trIndex >= 0)) throw new TokenError('more than one transformation');
  if (trIndex >= 0 && trIndex === segs.length - 1) throw new TokenError('transformation segment is not followed by a file');
  let tr = null;
  if (trIndex >= 0) tr = segs[trIndex].slice(3);
  else if (trValues.length) tr = normalizeTr(trValues[0]);
  if (tr !== null && isDir) throw new TokenError('transformation of a directory');
  const slash = isDir && segs.length ? '/' : '';
  return {
    path: '/' + segs.filter((_, i) => i !== trIndex).join('/') + slash,
    signedPath: '/' + segs.join('/') + slash,
    tr,
    params,
  };
}

// ------------------------------------------------------------ keys

class Key {
  constructor(kid, alg, secret, privateKey) {
    if (!/^[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,63}$/.test(kid)) throw new TokenError('bad key id');
    Object.assign(this, { kid, alg, secret, privateKey });
  }

  // A key file: 'mg-hmac-sha256:<base64url>' or a PEM Ed25519 private key.
  static fromText(kid, text) {
    const m = /^mg-(hmac-sha256|hmac-sha1):([A-Za-z0-9_-]+)\n?$/.exec(text);
    if (m) {
      const secret = Buffer.from(m[2], 'base64url');
      if (secret.length < (m[1] === 'hmac-sha256' ? 32 : 20)) throw new TokenError('secret too short');
      return new Key(kid, m[1], secret, null);
    }
    if (text.includes('-----BEGIN PRIVATE KEY-----')) {
      const pk = crypto.createPrivateKey(text);
      if (pk.asymmetricKeyType !== 'ed25519') throw new TokenError('not an Ed25519 key');
      return new Key(kid, 'ed25519', null, pk);
    }
    throw new TokenError('not a signing key file');
  }

  sign(message) {
    const data = Buffer.from(message, 'utf8');
    if (this.alg === 'ed25519') return crypto.sign(null, data, this.privateKey);
    return crypto.createHmac(this.alg === 'hmac-sha256' ? 'sha256' : 'sha1', this.secret).update(data).digest();
  }
}

// ------------------------------------------------------------ signing

function makeClaims(key, o) {
  if (!Number.isInteger(o.expires) || o.expires <= 0) throw new TokenError('expires must be epoch seconds');
  const c = { mg_exp: String(o.expires), mg_kid: key.kid };
  if (o.notBefore != null) {
    if (o.notBefore >= o.expires) throw new TokenError('not-before is not earlier than the expiry');
    c.mg_nbf = String(o.notBefore);
  }
  if (o.ip != null) c.mg_ip = o.ip;
  if (o.prefix != null) {
    if (!o.prefix.startsWith('/') || !o.prefix.endsWith('/')) throw new TokenError("the prefix must start and end with '/'");
    if (canonicalize(tokenEncode(o.prefix), null).path !== o.prefix) throw new TokenError('the prefix is not canonical');
    c.mg_scope = o.prefix;
  }
  if (o.access === 'download') c.mg_acc = 'download';
  else if (o.access != null && o.access !== 'view') throw new TokenError('access is view or download');
  if (o.id != null) {
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(o.id)) throw new TokenError('the token id must be 1-32 base64url characters');
    c.mg_id = o.id;
  }
  if (o.uses != null) {
    if (!Number.isInteger(o.uses) || o.uses < 1 || o.uses > 100) throw new TokenError('uses must be 1-100');
    if (o.id == null) throw new TokenError('a token limited in uses needs a token id');
    c.mg_uses = String(o.uses);
  }
  return c;
}

const claimsLine = (c, enc = tokenEncode) =>
  CLAIMS.filter((n) => n in c).map((n) => n + '=' + enc(c[n])).join('&');

function bytesCompare(a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function canonicalQuery(params, withTr, tr) {
  const pairs = [];
  for (let [name, value] of params) {
    if (name.startsWith('mg_')) throw new TokenError('the URL already has a token parameter ' + name);
    if (name === 'tr') {
      if (!withTr) continue;
      value = tr;
    }
    pairs.push([tokenEncode(name), tokenEncode(value)]);
  }
  pairs.sort((x, y) => bytesCompare(x[0], y[0]) || bytesCompare(x[1], y[1]));
  return pairs.map(([n, v]) => n + '=' + v).join('&');
}

function splitUrl(url) {
  if (url.includes('#')) throw new TokenError('a URL to sign must not have a fragment');
  if (url.startsWith('//')) throw new TokenError('a protocol-relative URL (//host/...) is ambiguous');
  const m = /^(https?:\/\/[^/?\x00-\x20\x7f]+)(\/.*)$/is.exec(url);
  if (m) return [m[1], m[2]];
  if (!url.startsWith('/')) throw new TokenError('expected a path or an absolute http(s) URL with a host and a path');
  return ['', url];
}

function stringToSign(url, claims) {
  const [origin, pathQ] = splitUrl(url);
  const qm = pathQ.indexOf('?');
  const c = canonicalize(qm < 0 ? pathQ : pathQ.slice(0, qm), qm < 0 ? null : pathQ.slice(qm + 1));
  const scope = claims.mg_scope;
  if (scope != null && !c.path.startsWith(scope)) throw new TokenError('the path is not under the prefix');
  const sts = [
    TAG,
    tokenEncode(scope != null ? scope : c.signedPath),
    c.tr || '',
    scope != null ? '' : canonicalQuery(c.params, false, c.tr),
    claimsLine(claims),
  ].join('\n');
  return { sts, base: origin + tokenEncode(c.signedPath), query: canonicalQuery(c.params, true, c.tr) };
}

// o: { expires, notBefore, ip, prefix, access, id (mg_id), uses (mg_uses, needs id) }
function signUrl(key, url, o) {
  const claims = makeClaims(key, o);
  const { sts, base, query } = stringToSign(url, claims);
  const q = (query ? query + '&' : '') + claimsLine(claims) + '&mg_sig=' + b64url(key.sign(sts));
  // Never return a link that verifiers refuse (docs/canonical-urls.md limits).
  const path = base.includes('://') ? base.slice(base.indexOf('/', base.indexOf('//') + 2)) : base;
  if (path.length > 4096 || q.length > 8192 || q.split('&').length > 256)
    throw new TokenError('the signed link would exceed the URL limits verifiers enforce');
  return base + '?' + q;
}

// The value of the signed cookie (default name mg_token) for everything under o.prefix.
function signCookie(key, o) {
  const claims = makeClaims(key, o);
  const sts = [TAG, tokenEncode(o.prefix), '', '', claimsLine(claims)].join('\n');
  return claimsLine(claims, cookieEncode) + '&mg_sig=' + b64url(key.sign(sts));
}

// ------------------------------------------------------------ vectors / CLI

function runVectors(file) {
  const data = JSON.parse(fs.readFileSync(file, 'utf8'));
  let passed = 0;
  let failed = 0;
  for (const v of data.vectors) {
    const key = Key.fromText(v.key, data.keys[v.key].key);
    const o = { expires: v.expires, notBefore: v.not_before, ip: v.ip, prefix: v.prefix, access: v.access,
      id: v.id, uses: v.uses };
    let got;
    if (v.cookie) {
      got = signCookie(key, o);
    } else {
      const { sts } = stringToSign(v.url, makeClaims(key, o));
      if (sts !== v.string_to_sign) {
        console.log(`FAIL  ${v.name}: string to sign ${JSON.stringify(sts)}`);
        failed++;
        continue;
      }
      got = signUrl(key, v.url, o);
    }
    if (got === v.expected) {
      passed++;
      console.log(`ok    ${v.name}`);
    } else {
      failed++;
      console.log(`FAIL  ${v.name}:\n  got      ${got}\n  expected ${v.expected}`);
    }
  }
  console.log(`node: ${passed} passed, ${failed} failed, 0 skipped`);
  return failed ? 1 : 0;
}

function main(argv) {
  const opts = {};
  const urls = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) opts[a.slice(2)] = argv[++i];
    else urls.push(a);
  }
  if (opts.vectors) return runVectors(opts.vectors);
  if (!opts['key-file'] || !opts['key-id'] || !opts.expires) {
    console.error('usage: sign.js --key-file F --key-id ID --expires EPOCH [--not-before EPOCH] ' +
      '[--ip A] [--prefix /DIR/] [--access view|download] [--id ID [--uses N]] URL...  |  sign.js --vectors vectors.json');
    return 2;
  }
  const key = Key.fromText(opts['key-id'], fs.readFileSync(opts['key-file'], 'utf8'));
  const o = {
    expires: Number(opts.expires),
    notBefore: opts['not-before'] != null ? Number(opts['not-before']) : undefined,
    ip: opts.ip,
    prefix: opts.prefix,
    access: opts.access,
    id: opts.id,
    uses: opts.uses != null ? Number(opts.uses) : undefined,
  };
  // Like mgctl sign: URLs from the arguments or one per line on stdin; a URL
  // that cannot be signed gives an empty line, a message and exit status 1.
  // stdin is read as bytes and each line decoded strictly: a 'utf8' read
  // would turn invalid bytes into U+FFFD and sign that instead of refusing.
  let input = urls;
  if (!urls.length) {
    const data = fs.readFileSync(0);
    input = [];
    for (let start = 0; start < data.length; ) {
      let end = data.indexOf(0x0a, start);
      if (end < 0) end = data.length;
      let stop = end;
      while (stop > start && data[stop - 1] === 0x0d) stop--;
      input.push(data.subarray(start, stop));
      start = end + 1;
    }
  }
  let status = 0;
  const out = [];
  for (let url of input) {
    try {
      if (typeof url !== 'string') {
        const bytes = url;
        url = bytes.toString('utf8'); // for the message only
        try {
          url = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
        } catch (e) {
          throw new TokenError('invalid UTF-8');
        }
      }
      out.push(signUrl(key, url, o));
    } catch (e) {
      if (!(e instanceof TokenError)) throw e;
      console.error(`sign.js: ${url}: ${e.message}`);
      out.push('');
      status = 1;
    }
  }
  process.stdout.write(out.map((l) => l + '\n').join(''));
  return status;
}

module.exports = { Key, signUrl, signCookie, stringToSign, canonicalize, tokenEncode, TokenError };

if (require.main === module) process.exitCode = main(process.argv.slice(2));
