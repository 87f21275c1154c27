<?php
// sign.php — mint mod_media_guard signed links (token format v1) in PHP.
//
// Standard extensions only: hash (HMAC-SHA256/SHA1) and sodium (Ed25519,
// bundled with PHP >= 7.2; without it Ed25519 keys are refused with a clear
// message). The normative description is docs/token-spec.md; vectors.json
// holds the test vectors this file reproduces:
//
//     php sign.php --vectors vectors.json
//
// As a library:
//
//     require 'sign.php';
//     $key = MgKey::fromText('k2026', file_get_contents('k2026.key'));
//     $url = mg_sign_url($key, '/photos/a.jpg?w=300', ['expires' => 1798761599]);

declare(strict_types=1);

const MG_TAG = 'mg-token-v1';
const MG_CLAIMS = ['mg_acc', 'mg_exp', 'mg_id', 'mg_ip', 'mg_kid', 'mg_nbf', 'mg_scope', 'mg_uses']; // byte order

class MgTokenError extends InvalidArgumentException {}

// ------------------------------------------------------------ encoding

// Unreserved and / : , @ stay; every other UTF-8 byte is %XX.
function mg_token_encode(string $s): string
{
    return strtr(rawurlencode($s), ['%2F' => '/', '%3A' => ':', '%2C' => ',', '%40' => '@']);
}

// Cookie values keep unreserved only (a cookie may not contain ',').
function mg_cookie_encode(string $s): string
{
    return rawurlencode($s);
}

function mg_b64url(string $bin): string
{
    return rtrim(strtr(base64_encode($bin), '+/', '-_'), '=');
}

// ------------------------------------------------------------ canonical form
// A signer-side subset of docs/canonical-urls.md.

function mg_pct_decode(string $raw, string $where, bool $plusIsSpace): string
{
    if (preg_match('/%(?![0-9A-Fa-f]{2})/', $raw)) {
        throw new MgTokenError("malformed percent escape in $where");
    }
    $text = $plusIsSpace ? urldecode($raw) : rawurldecode($raw);
    if (preg_match('//u', $text) !== 1) { // PCRE's UTF-8 check: strict, no mbstring needed
        throw new MgTokenError("invalid UTF-8 in $where");
    }
    if (preg_match('/[\x00-\x1f\x7f]|\xc2[\x80-\x9f]/', $text)) {
        throw new MgTokenError("control character in $where");
    }
    return $text;
}

function mg_normalize_tr(string $text): string
{
    if ($text === '') {
        throw new MgTokenError('empty transformation');
    }
    $steps = [];
    foreach (explode(':', $text) as $step) {
        $params = [];
        foreach (explode(',', $step) as $p) {
            $parts = explode('-', $p, 2);
            if (count($parts) !== 2 || !preg_match('/^[a-z0-9]+$/', $parts[0])
                || !preg_match('/^[A-Za-z0-9\-._~!$()*+=@]+$/', $parts[1])) {
                throw new MgTokenError("malformed transformation parameter $p");
            }
            if (isset($params[$parts[0]])) {
                throw new MgTokenError("duplicate transformation key {$parts[0]}");
            }
            $params[$parts[0]] = $parts[1];
        }
        ksort($params, SORT_STRING);
        $steps[] = implode(',', array_map(fn ($k) => "$k-{$params[$k]}", array_keys($params)));
    }
    return implode(':', $steps);
}

function mg_parse_query(?string $raw): array
{
    if ($raw !== null && strpos($raw, ';') !== false) {
        // Like mg_canon: origins that also split on ';' would see another query.
        throw new MgTokenError("raw ';' in query (encode it as %3B)");
    }
    $pairs = [];
    foreach (explode('&', $raw ?? '') as $part) {
        if ($part === '') {
            continue;
        }
        $kv = explode('=', $part, 2);
        $name = mg_pct_decode($kv[0], 'query', true);
        if ($name === '') {
            throw new MgTokenError('query parameter without a name');
        }
        $pairs[] = [$name, isset($kv[1]) ? mg_pct_decode($kv[1], 'query', true) : ''];
    }
    return $pairs;
}

// Returns [path, signed_path, tr|null, params] like mg_canon_path().
function mg_canonicalize(string $rawPath, ?string $rawQuery): array
{
    if ($rawPath === '' || $rawPath[0] !== '/') {
        throw new MgTokenError("path does not start with '/'");
    }
    if (preg_match('/[\x00-\x20\x7f\\\\?#]/', $rawPath)) {
        throw new MgTokenError("control byte, space, backslash, '?' or '#' in path");
    }
    $segs = [];
    $trIndex = -1;
    $isDir = true;
    foreach (array_slice(explode('/', $rawPath), 1) as $raw) {
        $semi = strpos($raw, ';');
        if ($semi !== false) {
            if (preg_match('/%(?![0-9A-Fa-f]{2})/', substr($raw, $semi))) {
                throw new MgTokenError('malformed percent escape in path parameters');
            }
            $raw = substr($raw, 0, $semi);
        }
        $seg = mg_pct_decode($raw, 'path', false);
        if ($semi !== false && ($seg === '' || $seg === '.' || $seg === '..')) {
            throw new MgTokenError("dot or empty segment with ';' parameters");
        }
        if (strpbrk($seg, "/\\;") !== false) {
            throw new MgTokenError("encoded '/', '\\' or ';' in path");
        }
        if (stripos($raw, '%25') !== false && preg_match('/%[0-9A-Fa-f]{2}/', $seg)) {
            throw new MgTokenError('double percent-encoding in path');
        }
        if ($seg === '' || $seg === '.') {
            $isDir = true;
            continue;
        }
        if ($seg === '..') {
            if (!$segs) {
                throw new MgTokenError("'..' climbs above the root");
            }
            if ($trIndex === count($segs) - 1) {
                throw new MgTokenError("'..' would remove the transformation segment");
            }
            array_pop($segs);
            $isDir = true;
            continue;
        }
        if (preg_match('/^\.+$/', $seg)) {
            throw new MgTokenError('path segment made only of dots');
        }
        if (substr($seg, -1) === '.' || substr($seg, -1) === ' ') {
            throw new MgTokenError('path segment ends in a dot or a space');
        }
        if (strtolower(substr($seg, 0, 3)) === 'tr:') {
            if (substr($seg, 0, 3) !== 'tr:') {
                throw new MgTokenError("transformation segment must be written 'tr:'");
            }
            if ($trIndex >= 0) {
                throw new MgTokenError('more than one transformation segment');
            }
            $trIndex = count($segs);
            $seg = 'tr:' . mg_normalize_tr(substr($seg, 3));
        }
        $segs[] = $seg;
        $isDir = false;
    }
    $params = mg_parse_query($rawQuery);
    $trValues = [];
    foreach ($params as [$n, $v]) {
        if (strtolower($n) === 'tr' && $n !== 'tr') {
            throw new MgTokenError("transformation parameter must be 'tr'");
        }
        if ($n === 'tr') {
            $trValues[] = $v;
        }
    }
    if (count($trValues) > 1 || ($trValues && $trIndex >= 0)) {
        throw new MgTokenError('more than one transformation');
    }
    if ($trIndex >= 0 && $trIndex === count($segs) - 1) {
        throw new MgTokenError('transformation segment is not followed by a file');
    }
    $tr = null;
    if ($trIndex >= 0) {
        $tr = substr($segs[$trIndex], 3);
    } elseif ($trValues) {
        $tr = mg_normalize_tr($trValues[0]);
    }
    if ($tr !== null && $isDir) {
        throw new MgTokenError('transformation of a directory');
    }
    $slash = ($isDir && $segs) ? '/' : '';
    $plain = $segs;
    if ($trIndex >= 0) {
        array_splice($plain, $trIndex, 1);
    }
    return ['/' . implode('/', $plain) . $slash, '/' . implode('/', $segs) . $slash, $tr, $params];
}

// ------------------------------------------------------------ keys

final class MgKey
{
    private function __construct(
        public readonly string $kid,
        public readonly string $alg,
        private readonly string $secret
    ) {
        if (!preg_match('/^[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,63}$/', $kid)) {
            throw new MgTokenError('bad key id');
        }
    }

    // A key file: 'mg-hmac-sha256:<base64url>' or a PEM Ed25519 private key (PKCS#8).
    public static function fromText(string $kid, string $text): self
    {
        if (preg_match('/^mg-(hmac-sha256|hmac-sha1):([A-Za-z0-9_-]+)\n?$/D', $text, $m)) {
            $secret = base64_decode(strtr($m[2], '-_', '+/'), true);
            if ($secret === false || strlen($secret) < ($m[1] === 'hmac-sha256' ? 32 : 20)) {
                throw new MgTokenError('secret too short or malformed');
            }
            return new self($kid, $m[1], $secret);
        }
        if (str_contains($text, '-----BEGIN PRIVATE KEY-----')) {
            if (!function_exists('sodium_crypto_sign_detached')) {
                throw new LogicException('Ed25519 needs the sodium extension (bundled with PHP >= 7.2)');
            }
            // PKCS#8 for Ed25519 is a fixed 16-byte header followed by the 32-byte seed.
            $der = base64_decode(preg_replace('/-----[^-]+-----|\s+/', '', $text), true);
            if ($der === false || strlen($der) !== 48
                || substr($der, 0, 16) !== hex2bin('302e020100300506032b657004220420')) {
                throw new MgTokenError('not an unencrypted Ed25519 PKCS#8 private key');
            }
            $pair = sodium_crypto_sign_seed_keypair(substr($der, 16));
            return new self($kid, 'ed25519', sodium_crypto_sign_secretkey($pair));
        }
        throw new MgTokenError('not a signing key file');
    }

    public function sign(string $message): string
    {
        return match ($this->alg) {
            'hmac-sha256' => hash_hmac('sha256', $message, $this->secret, true),
            'hmac-sha1' => hash_hmac('sha1', $message, $this->secret, true),
            'ed25519' => sodium_crypto_sign_detached($message, $this->secret),
        };
    }
}

// ------------------------------------------------------------ signing

// $o: ['expires' => epoch, 'not_before' => epoch, 'ip' => ..., 'prefix' => '/dir/', 'access' => 'download',
//      'id' => token id (mg_id), 'uses' => distinct clients (mg_uses, needs 'id')]
function mg_claims(MgKey $key, array $o): array
{
    $exp = $o['expires'] ?? 0;
    if (!is_int($exp) || $exp <= 0) {
        throw new MgTokenError('expires must be epoch seconds');
    }
    $c = ['mg_exp' => (string) $exp, 'mg_kid' => $key->kid];
    if (isset($o['not_before'])) {
        if ($o['not_before'] >= $exp) {
            throw new MgTokenError('not-before is not earlier than the expiry');
        }
        $c['mg_nbf'] = (string) $o['not_before'];
    }
    if (isset($o['ip'])) {
        $c['mg_ip'] = $o['ip'];
    }
    if (isset($o['prefix'])) {
        $p = $o['prefix'];
        if ($p === '' || $p[0] !== '/' || substr($p, -1) !== '/'
            || mg_canonicalize(mg_token_encode($p), null)[0] !== $p) {
            throw new MgTokenError('the prefix must be a canonical directory path');
        }
        $c['mg_scope'] = $p;
    }
    $acc = $o['access'] ?? null;
    if ($acc === 'download') {
        $c['mg_acc'] = 'download';
    } elseif ($acc !== null && $acc !== 'view') {
        throw new MgTokenError('access is view or download');
    }
    if (isset($o['id'])) {
        if (!preg_match('/^[A-Za-z0-9_-]{1,32}$/D', $o['id'])) {
            throw new MgTokenError('the token id must be 1-32 base64url characters');
        }
        $c['mg_id'] = $o['id'];
    }
    if (isset($o['uses'])) {
        if (!is_int($o['uses']) || $o['uses'] < 1 || $o['uses'] > 100) {
            throw new MgTokenError('uses must be 1-100');
        }
        if (!isset($o['id'])) {
            throw new MgTokenError('a token limited in uses needs a token id');
        }
        $c['mg_uses'] = (string) $o['uses'];
    }
    return $c;
}

function mg_claims_line(array $c, callable $enc = null): string
{
    $enc ??= 'mg_token_encode';
    $out = [];
    foreach (MG_CLAIMS as $n) {
        if (isset($c[$n])) {
            $out[] = $n . '=' . $enc($c[$n]);
        }
    }
    return implode('&', $out);
}

function mg_canonical_query(array $params, bool $withTr, ?string $tr): string
{
    $pairs = [];
    foreach ($params as [$name, $value]) {
        if (str_starts_with($name, 'mg_')) {
            throw new MgTokenError("the URL already has a token parameter $name");
        }
        if ($name === 'tr') {
            if (!$withTr) {
                continue;
            }
            $value = $tr;
        }
        $pairs[] = [mg_token_encode($name), mg_token_encode($value)];
    }
    usort($pairs, fn ($x, $y) => strcmp($x[0], $y[0]) ?: strcmp($x[1], $y[1]));
    return implode('&', array_map(fn ($p) => $p[0] . '=' . $p[1], $pairs));
}

// Returns [string to sign, scheme://host + encoded signed path, URL query].
function mg_string_to_sign(string $url, array $claims): array
{
    if (str_contains($url, '#')) {
        throw new MgTokenError('a URL to sign must not have a fragment');
    }
    if (str_starts_with($url, '//')) {
        throw new MgTokenError('a protocol-relative URL (//host/...) is ambiguous');
    }
    $origin = '';
    if (preg_match('~^(https?://[^/?\x00-\x20\x7f]+)(/.*)$~is', $url, $m)) {
        [$origin, $url] = [$m[1], $m[2]];
    } elseif ($url === '' || $url[0] !== '/') {
        throw new MgTokenError('expected a path or an absolute http(s) URL with a host and a path');
    }
    $qm = strpos($url, '?');
    [$path, $signed, $tr, $params] = mg_canonicalize(
        $qm === false ? $url : substr($url, 0, $qm),
        $qm === false ? null : substr($url, $qm + 1)
    );
    $scope = $claims['mg_scope'] ?? null;
    if ($scope !== null && !str_starts_with($path, $scope)) {
        throw new MgTokenError('the path is not under the prefix');
    }
    $sts = implode("\n", [
        MG_TAG,
        mg_token_encode($scope ?? $signed),
        $tr ?? '',
        $scope !== null ? '' : mg_canonical_query($params, false, $tr),
        mg_claims_line($claims),
    ]);
    return [$sts, $origin . mg_token_encode($signed), mg_canonical_query($params, true, $tr)];
}

function mg_sign_url(MgKey $key, string $url, array $o): string
{
    $claims = mg_claims($key, $o);
    [$sts, $base, $query] = mg_string_to_sign($url, $claims);
    $q = ($query !== '' ? $query . '&' : '') . mg_claims_line($claims)
        . '&mg_sig=' . mg_b64url($key->sign($sts));
    // Never return a link that verifiers refuse (docs/canonical-urls.md limits).
    $path = str_contains($base, '://') ? substr($base, strpos($base, '/', strpos($base, '//') + 2)) : $base;
    if (strlen($path) > 4096 || strlen($q) > 8192 || substr_count($q, '&') + 1 > 256) {
        throw new MgTokenError('the signed link would exceed the URL limits verifiers enforce');
    }
    return $base . '?' . $q;
}

// The value of the signed cookie (default name mg_token) for everything under $o['prefix'].
function mg_sign_cookie(MgKey $key, array $o): string
{
    $claims = mg_claims($key, $o);
    $sts = implode("\n", [MG_TAG, mg_token_encode($o['prefix']), '', '', mg_claims_line($claims)]);
    return mg_claims_line($claims, 'mg_cookie_encode') . '&mg_sig=' . mg_b64url($key->sign($sts));
}

// ------------------------------------------------------------ vectors / CLI

function mg_run_vectors(string $file): int
{
    $data = json_decode(file_get_contents($file), true, 512, JSON_THROW_ON_ERROR);
    [$passed, $failed, $skipped] = [0, 0, 0];
    foreach ($data['vectors'] as $v) {
        try {
            $key = MgKey::fromText($v['key'], $data['keys'][$v['key']]['key']);
        } catch (LogicException $e) {
            echo "skip  {$v['name']}: {$e->getMessage()}\n";
            $skipped++;
            continue;
        }
        $o = array_intersect_key($v, array_flip(['expires', 'not_before', 'ip', 'prefix', 'access', 'id', 'uses']));
        if (!empty($v['cookie'])) {
            $got = mg_sign_cookie($key, $o);
        } else {
            $sts = mg_string_to_sign($v['url'], mg_claims($key, $o))[0];
            if ($sts !== $v['string_to_sign']) {
                echo "FAIL  {$v['name']}: string to sign " . json_encode($sts) . "\n";
                $failed++;
                continue;
            }
            $got = mg_sign_url($key, $v['url'], $o);
        }
        if ($got === $v['expected']) {
            $passed++;
            echo "ok    {$v['name']}\n";
        } else {
            $failed++;
            echo "FAIL  {$v['name']}:\n  got      $got\n  expected {$v['expected']}\n";
        }
    }
    echo "php: $passed passed, $failed failed, $skipped skipped\n";
    return $failed ? 1 : 0;
}

if (PHP_SAPI === 'cli' && realpath($_SERVER['SCRIPT_FILENAME'] ?? '') === __FILE__) {
    $opts = getopt('', ['vectors:', 'key-file:', 'key-id:', 'expires:', 'not-before:', 'ip:',
                        'prefix:', 'access:', 'id:', 'uses:'], $rest);
    if (isset($opts['vectors'])) {
        exit(mg_run_vectors($opts['vectors']));
    }
    if (!isset($opts['key-file'], $opts['key-id'], $opts['expires'])) {
        fwrite(STDERR, "usage: php sign.php --key-file F --key-id ID --expires EPOCH [--not-before EPOCH]"
            . " [--ip A] [--prefix /DIR/] [--access view|download] [--id ID [--uses N]] URL...\n"
            . "       php sign.php --vectors vectors.json\n");
        exit(2);
    }
    $key = MgKey::fromText($opts['key-id'], file_get_contents($opts['key-file']));
    $o = ['expires' => (int) $opts['expires']];
    if (isset($opts['not-before'])) {
        $o['not_before'] = (int) $opts['not-before'];
    }
    foreach (['ip', 'prefix', 'access', 'id'] as $k) {
        if (isset($opts[$k])) {
            $o[$k] = $opts[$k];
        }
    }
    if (isset($opts['uses'])) {
        $o['uses'] = (int) $opts['uses'];
    }
    // Like mgctl sign: URLs from the arguments or one per line on stdin; a URL
    // that cannot be signed gives an empty line, a message and exit status 1.
    $urls = array_slice($argv, $rest);
    if (!$urls) {
        while (($line = fgets(STDIN)) !== false) {
            $urls[] = rtrim($line, "\r\n");
        }
    }
    $status = 0;
    foreach ($urls as $url) {
        try {
            echo mg_sign_url($key, $url, $o), "\n";
        } catch (MgTokenError $e) {
            fwrite(STDERR, "sign.php: $url: {$e->getMessage()}\n");
            echo "\n";
            $status = 1;
        }
    }
    exit($status);
}
