#!/bin/sh
# tests/formats.sh — `make check` script test for the foreign link formats in
# mgctl (docs/token-formats.md): migrate-report over URLs and access-log
# lines (valid, expired, wrong address, two formats at once, no token), its
# summary and exit status; sign --token-format refusals and --cookie output;
# verify --cookie and explain -H Cookie with foreign signed cookies; verify's format
# line; validate's refusals of keys a format does not define; CloudFront (the
# AWS Ruby SDK vector, --private-key); lighttpd path_segments links as directory
# links (--prefix, scope).
# Environment: MGCTL (the built mgctl).
set -u
MGCTL=${MGCTL:-./mgctl/mgctl}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mg-formats.XXXXXX") || exit 99
trap 'rm -rf "$TMP"' EXIT INT TERM
fails=0
checks=0
pass() { checks=$((checks + 1)); }
fail() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*"; sed 's/^/    | /' "$TMP/out" | head -20; }
# expect CODE DESCRIPTION PATTERN -- command...: exit CODE and PATTERN (grep -E) in stdout+stderr
expect() {
    code=$1 what=$2 pat=$3
    shift 4
    "$@" >"$TMP/out" 2>&1
    rc=$?
    if [ "$rc" -ne "$code" ]; then fail "$what: exit $rc, expected $code"
    elif ! grep -Eq -- "$pat" "$TMP/out"; then fail "$what: no /$pat/"
    else pass; fi
}

umask 077
printf 'mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n' >"$TMP/k.key"
printf 'private_key_test\n' >"$TMP/ik.key"
printf 'secret\n' >"$TMP/ng.key"
cat >"$TMP/p.yaml" <<'Y'
version: 1
keys:
  - {id: k2026, file: k.key}
  - id: ik1
    format: imagekit
    file: ik.key
    options: {endpoint: /test-endpoint/}
  - id: ng1
    format: nginx-secure-link
    file: ng.key
    options:
      expression: "$secure_link_expires$uri$remote_addr $secret"
rules:
  - {id: all, path: /, token: required}
Y
NG='/s/link?md5=_e4Nc3iduzkWRm01TBBNYw&expires=2147483647'
IK='/test-endpoint/tr:w-100/test-signed-url.png?ik-t=100&ik-s=5e5037a31a7121cbe2964e220b4338cc6e1ba66d'
MG='/photos/a.jpg?mg_exp=1798761599&mg_kid=k2026&mg_sig=FtUP1BhVK2iquiyvB7SITs0ex_aPP6ZEgWz-2nU6sqQ'
cat >"$TMP/links" <<L
# from the old servers
$MG
https://cdn.example.com$IK
127.0.0.1 - - [04/Dec/2026:10:00:00 +0000] "GET $NG HTTP/1.1" 200 512 "-" "curl/8"
10.0.0.9 - - [04/Dec/2026:10:00:00 +0000] "GET $NG HTTP/1.1" 200 512
$MG&md5=_e4Nc3iduzkWRm01TBBNYw

/plain.jpg
L
expect 1 "migrate-report refuses some" 'valid    mg-v1 k2026 expires 2026-12-31T23:59:59Z' -- \
    "$MGCTL" migrate-report -p "$TMP/p.yaml" --now 2026-06-01T00:00:00Z "$TMP/links"
grep -q 'invalid  token-expired imagekit ik1   https://cdn.example.com/test-endpoint' "$TMP/out" && pass || fail "imagekit expired line"
grep -q "valid    nginx-secure-link ng1 expires 2038-01-19T03:14:07Z   $NG" "$TMP/out" && pass || fail "log line with its client address"
grep -q 'invalid  token-bad-signature nginx-secure-link ng1' "$TMP/out" && pass || fail "log line from another address"
grep -q 'invalid  token-malformed   /photos/a.jpg' "$TMP/out" && pass || fail "two formats at once"
grep -q '^6 link(s), 2 valid, 4 refused$' "$TMP/out" && pass || fail "summary counts"
grep -q '^last expiry of a valid link: 2038-01-19T03:14:07Z$' "$TMP/out" && pass || fail "last expiry"
expect 0 "migrate-report all valid, from stdin, JSON" '"summary":\{"links":2,"valid":2' -- \
    sh -c "printf '%s\n%s\n' '$MG' '$IK' | '$MGCTL' migrate-report -p '$TMP/p.yaml' --now 1970-01-01T00:01:00Z -f json"
grep -q '"format":"imagekit","kid":"ik1","expires":"1970-01-01T00:01:40Z"' "$TMP/out" && pass || fail "JSON line"
expect 2 "migrate-report needs a policy" 'policy FILE is required' -- "$MGCTL" migrate-report "$TMP/links"
expect 2 "migrate-report unreadable file" "cannot read" -- "$MGCTL" migrate-report -p "$TMP/p.yaml" "$TMP/nope"
expect 0 "migrate-report --help" 'Usage: mgctl migrate-report' -- "$MGCTL" migrate-report --help

expect 0 "verify names the format" '^format: nginx-secure-link$' -- \
    "$MGCTL" verify -p "$TMP/p.yaml" --now 2026-06-01T00:00:00Z "$NG"
expect 0 "sign --token-format imagekit" 'ik-t=100&ik-s=5e5037a31a7121cbe2964e220b4338cc6e1ba66d$' -- \
    "$MGCTL" sign -p "$TMP/p.yaml" --token-format imagekit --expires 100 --now 1970-01-01T00:00:01Z \
    /test-endpoint/tr:w-100/test-signed-url.png
expect 2 "sign --token-format refuses claims it cannot carry" 'carries an expiry only' -- \
    "$MGCTL" sign -p "$TMP/p.yaml" --token-format imagekit --ttl 1h --prefix /a/ /a/b.jpg
expect 2 "sign --token-format unknown" "is not one of mg-v1, imagekit" -- \
    "$MGCTL" sign -p "$TMP/p.yaml" --token-format cloudfrnt --ttl 1h /a.jpg
expect 2 "sign --format imagekit points at --token-format" 'token format is --token-format' -- \
    "$MGCTL" sign -p "$TMP/p.yaml" --format imagekit --ttl 1h /a.jpg
expect 1 "sign nginx needs --ip" 'give the client address' -- \
    "$MGCTL" sign -p "$TMP/p.yaml" --token-format nginx-secure-link --ttl 1h /s/a.mp4
expect 1 "sign: an unencoded byte" 'percent-encode' -- \
    "$MGCTL" sign -p "$TMP/p.yaml" --token-format imagekit --ttl 1h '/test-endpoint/a b.jpg'

expect 1 "sign: a parameter another key of the policy reads" "already has 'md5'" -- \
    "$MGCTL" sign -p "$TMP/p.yaml" --token-format imagekit --ttl 1h '/test-endpoint/a.jpg?md5=1'

# Google Cloud CDN: absolute links, verified over the key's origin (golang-samples vector)
printf 'nZtRohdNF9m3cKM24IcK4w==\n' >"$TMP/gc.key"
cat >"$TMP/gc.yaml" <<'Y'
version: 1
keys:
  - {id: gc1, format: gcp-cdn, file: gc.key, options: {origin: "http://35.186.234.33", key_name: my-key}}
rules:
  - {id: all, path: /, token: required}
Y
GC='http://35.186.234.33/index.html?Expires=1558131350&KeyName=my-key&Signature=fm6JZSmKNsB5sys8VGr-JE4LiiE='
printf '%s\n%s\n' "$GC" "$(printf '%s' "$GC" | sed 's/index/indey/')" >"$TMP/gclinks"
expect 1 "migrate-report: a Cloud CDN link" 'valid    gcp-cdn gc1 expires 2019-05-17T22:15:50Z' -- \
    "$MGCTL" migrate-report -p "$TMP/gc.yaml" --now 2019-05-01T00:00:00Z "$TMP/gclinks"
grep -q 'invalid  token-bad-signature gcp-cdn gc1' "$TMP/out" && pass || fail "tampered Cloud CDN link"
expect 0 "verify names gcp-cdn" '^format: gcp-cdn$' -- \
    "$MGCTL" verify -p "$TMP/gc.yaml" --now 2019-05-01T00:00:00Z "$GC"
expect 0 "sign --token-format gcp-cdn reproduces the vector" "^http://35[.]186[.]234[.]33/index[.]html[?]Expires=1558131350&KeyName=my-key&Signature=fm6JZSmKNsB5sys8VGr-JE4LiiE=$" -- \
    "$MGCTL" sign -p "$TMP/gc.yaml" --token-format gcp-cdn --expires 1558131350 \
    --now 2019-05-01T00:00:00Z /index.html
expect 1 "sign gcp-cdn refuses another origin" 'the key signs for http://35.186.234.33' -- \
    "$MGCTL" sign -p "$TMP/gc.yaml" --token-format gcp-cdn --ttl 1h https://other.example/a.jpg

# Akamai EdgeAuth (query and cookie) and the Cloud-CDN-Cookie, next to each other
printf 'aabbccddeeff00112233445566778899\n' >"$TMP/ak.key"
cat >"$TMP/edge.yaml" <<'Y'
version: 1
keys:
  - {id: ak1, format: akamai-edgeauth, file: ak.key}
  - {id: gc1, format: gcp-cdn, file: gc.key, options: {origin: "http://www.example.com", key_name: my-key}}
  - {id: ik1, format: imagekit, file: ik.key}
rules:
  - {id: all, path: /, token: required}
Y
AK='/v/a.mp4?__token__=ip=1.2.3.4~exp=1893456000~acl=/v/*~hmac=cab65ea66f4be0f96047ac84acc4b8857a75f7f10180fe6704bbcf317dffd359'
printf '1.2.3.4 - - [01/Jan/2029:00:00:00 +0000] "GET %s HTTP/1.1" 200 5\n%s\n' "$AK" "$AK" >"$TMP/aklinks"
expect 1 "migrate-report: an EdgeAuth link from its log line's address" 'valid    akamai-edgeauth ak1 expires 2030-01-01T00:00:00Z' -- \
    "$MGCTL" migrate-report -p "$TMP/edge.yaml" --now 2029-01-01T00:00:00Z "$TMP/aklinks"
grep -q 'invalid  token-wrong-ip akamai-edgeauth ak1' "$TMP/out" && pass || fail "EdgeAuth link from another address"
expect 0 "sign --token-format akamai-edgeauth reproduces the SDK vector" "^/v/a[.]mp4[?]__token__=ip=1[.]2[.]3[.]4~exp=1893456000~acl=/v/[*]~hmac=cab65ea6" -- \
    "$MGCTL" sign -p "$TMP/edge.yaml" --token-format akamai-edgeauth --expires 1893456000 \
    --now 2029-01-01T00:00:00Z --ip 1.2.3.4 --prefix /v/ /v/a.mp4
expect 0 "sign --cookie: the Set-Cookie value of an EdgeAuth cookie" '^__token__=exp=1893456000~acl=/v/[*]~hmac=ef1b7a22[0-9a-f]+; Path=/v/; Expires=Tue, 01 Jan 2030 00:00:00 GMT; Secure; HttpOnly; SameSite=Lax$' -- \
    "$MGCTL" sign -p "$TMP/edge.yaml" --token-format akamai-edgeauth --expires 1893456000 \
    --now 2029-01-01T00:00:00Z --prefix /v/ --cookie
expect 0 "sign --cookie -f json names the cookie" '"name":"Cloud-CDN-Cookie","value":"URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS9mb28v:Expires=1549751401:KeyName=my-key:Signature=Z9uYAu73YHioRScZDxnP-TnS274="' -- \
    "$MGCTL" sign -p "$TMP/edge.yaml" --token-format gcp-cdn --expires 1549751401 \
    --now 2019-01-01T00:00:00Z --prefix /foo/ --cookie -f json
expect 2 "sign --cookie needs --prefix" 'cookie needs --prefix' -- \
    "$MGCTL" sign -p "$TMP/edge.yaml" --token-format akamai-edgeauth --ttl 1h --cookie
expect 2 "sign --cookie signs no URL" 'signs the --prefix, not URLs' -- \
    "$MGCTL" sign -p "$TMP/edge.yaml" --token-format gcp-cdn --ttl 1h --prefix /v/ --cookie /v/a.mp4
expect 2 "sign --cookie for a format without cookies" 'no .*--cookie' -- \
    "$MGCTL" sign -p "$TMP/edge.yaml" --token-format imagekit --ttl 1h --cookie
C=$("$MGCTL" sign -p "$TMP/edge.yaml" --token-format akamai-edgeauth --expires 1893456000 --now 2029-01-01T00:00:00Z --prefix /v/ --cookie | cut -d';' -f1)
expect 0 "verify --cookie reads an EdgeAuth cookie" '^from: cookie$' -- \
    "$MGCTL" verify -p "$TMP/edge.yaml" --now 2029-01-01T00:00:00Z --cookie "$C" /v/x/y.mp4
expect 1 "verify --cookie: outside the ACL" '^reason: token-out-of-scope$' -- \
    "$MGCTL" verify -p "$TMP/edge.yaml" --now 2029-01-01T00:00:00Z --cookie "$C" /w/y.mp4
expect 0 "explain -H Cookie reaches the verifier" 'allowed-by-token' -- \
    "$MGCTL" explain -p "$TMP/edge.yaml" -t 2029-01-01T00:00:00Z -H "Cookie: a=1; $C" /v/x/y.mp4
# Amazon CloudFront: the AWS Ruby SDK's test key and canned-policy vector
# (gems/aws-sdk-cloudfront/spec); the key entry holds the public half only
cat >"$TMP/cf.pub" <<'K'
-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC6YewnvN7Jj4vrhqqgL6A45Gy4
ju82dPcUoTEpg7wCc3gByuvnH6QgcGsIB0UDklyEJ8gOlmeskAviGHxAhfRJ43yW
KpKpIpjHk3Q6ORA547CWxE9Q79t7SE61zGW7AuvD4NvTyeNxlEQxmZLtt/NC4WFh
fs5oskfgYxeqE3bP1QIDAQAB
-----END PUBLIC KEY-----
K
cat >"$TMP/cf.pem" <<'K'
-----BEGIN RSA PRIVATE KEY-----
MIICXQIBAAKBgQC6YewnvN7Jj4vrhqqgL6A45Gy4ju82dPcUoTEpg7wCc3gByuvn
H6QgcGsIB0UDklyEJ8gOlmeskAviGHxAhfRJ43yWKpKpIpjHk3Q6ORA547CWxE9Q
79t7SE61zGW7AuvD4NvTyeNxlEQxmZLtt/NC4WFhfs5oskfgYxeqE3bP1QIDAQAB
AoGAW0DMVdxkG717XRJvAcSvpos4K9hXiIsV2fTd1ByadXzBWedXPq7ANd20mZat
lIUZZN7xVSsQkW1pVAZ290ReiONwl5cMxHgr91kzH1vxYk5cKRrBftJMCqBgF6gR
saiuxYCfyuNOem0aeZCwsBoHzAvDYq2xja7UWailwQ6P7gECQQD0ETqMZuJYisZc
Dy7dQUHUqgdzf3j4b3yROdcF3kPfRra+wan8oOY1dZXony3oeBllsYH9w9FcKl5C
XE6KDe6BAkEAw360fbhp/G8rHfzuUzW8T6mDWU/d75iiXOeqNIPs2SPNHLLS+yXz
ySqsKkSu0aTfPZKKkPz4HDdm6fMSjHUfVQJBALoc1S+xWNK56C7VKSBxHbkEezAY
uW+A3FWF7LC937XIH5xw46YQL9v+MXU0xPYrdvp0FLMk+mY0rLIf34govYECQHom
UDaBpM+S0pkRMgSR/dC0tRp3+c88Sq7MHaBkkff3E7EL1yIPy6x1Wk+qzKS3ZLl/
N89yEMDoqQgi1gMnJ2UCQQDvKuHMk2F3tuxp7qyCgnxi1HAfQq0Vft5NiH9aww59
d/UD7FyWdtpd8VlZal0GR30ZpWKgAGol8c8hCIKV5D6W
-----END RSA PRIVATE KEY-----
K
cat >"$TMP/cf.yaml" <<'Y'
version: 1
keys:
  - {id: cf1, format: cloudfront, file: cf.pub, options: {origin: "https://abc.cloudfront.net", key_pair_id: CF_KEYPAIR_ID}}
rules:
  - {id: all, path: /, token: required}
Y
CF='https://abc.cloudfront.net/images/image.jpg?color=red&Expires=1357034400&Signature=GvrDx3aAG1u1sAQF68c~xD6LVORt36mRTvC2u5RwLjsvusXI0sJPxy3D0R8AQp4qFZlRehwh~mablw8DBNRFLQ81mazmbrUOhXbuepav5ZmCU-KgOmXtpMS49L7TLGUSfwSksDx1qriAtB4mS4iJaNt2mfo0C5G-vlt9qMftkJg_&Key-Pair-Id=CF_KEYPAIR_ID'
printf '%s\n%s\n' "$CF" "$(printf '%s' "$CF" | sed 's/color=red/color=blue/')" >"$TMP/cflinks"
expect 1 "migrate-report: a CloudFront link" 'valid    cloudfront cf1 expires 2013-01-01T10:00:00Z' -- \
    "$MGCTL" migrate-report -p "$TMP/cf.yaml" --now 2013-01-01T00:00:00Z "$TMP/cflinks"
grep -q 'invalid  token-bad-signature cloudfront cf1' "$TMP/out" && pass || fail "tampered CloudFront link"
expect 0 "verify names cloudfront" '^format: cloudfront$' -- \
    "$MGCTL" verify -p "$TMP/cf.yaml" --now 2013-01-01T00:00:00Z "$CF"
expect 0 "sign --token-format cloudfront reproduces the SDK vector" "^$(printf '%s' "$CF" | sed 's/[.?~]/[&]/g')$" -- \
    "$MGCTL" sign -p "$TMP/cf.yaml" --token-format cloudfront --private-key "$TMP/cf.pem" \
    --expires 1357034400 --now 2013-01-01T00:00:00Z 'https://abc.cloudfront.net/images/image.jpg?color=red'
expect 2 "sign cloudfront needs --private-key" 'give --private-key FILE' -- \
    "$MGCTL" sign -p "$TMP/cf.yaml" --token-format cloudfront --ttl 1h /a.jpg
expect 2 "sign: --private-key is for cloudfront only" 'not imagekit' -- \
    "$MGCTL" sign -p "$TMP/p.yaml" --token-format imagekit --private-key "$TMP/cf.pem" --ttl 1h /a.jpg
expect 2 "sign: --private-key without --token-format" 'goes with --token-format cloudfront' -- \
    "$MGCTL" sign -p "$TMP/p.yaml" --private-key "$TMP/cf.pem" --ttl 1h /a.jpg
expect 1 "sign cloudfront: a public key given as the private key" 'not an unencrypted PEM private key' -- \
    "$MGCTL" sign -p "$TMP/cf.yaml" --token-format cloudfront --private-key "$TMP/cf.pub" --ttl 1h /a.jpg

# lighttpd path_segments: a link deeper than N segments is a directory link,
# minted only with that directory as --prefix and verified with it as scope
printf 'verysecret\n' >"$TMP/lt.key"
printf 'bunny-key\n' >"$TMP/bn.key"
cat >"$TMP/lt.yaml" <<'Y'
version: 1
keys:
  - id: lt2
    format: lighttpd-secdownload
    alg: hmac-sha256
    file: lt.key
    options: {uri_prefix: /dl/, timeout: "3600", path_segments: "2"}
  - {id: bn1, format: bunny, file: bn.key}
rules:
  - {id: all, path: /, token: required}
Y
LTS="$MGCTL sign -p $TMP/lt.yaml --token-format lighttpd-secdownload --expires 1798761599 --now 2026-12-31T23:00:00Z"
expect 1 "sign lighttpd path_segments: a directory link needs --prefix" 'covers the whole directory /dl/v/l1/: give --prefix /dl/v/l1/' -- \
    $LTS /dl/v/l1/a.ts
expect 1 "sign lighttpd path_segments: the prefix is the key's directory" 'covers the directory /dl/v/l1/, not the prefix /dl/v/' -- \
    $LTS --prefix /dl/v/ /dl/v/l1/a.ts
expect 1 "sign lighttpd path_segments: the directory's own name has no link" 'does not hold /dl/v/l1 itself' -- \
    $LTS --prefix /dl/v/l1/ /dl/v/l1
expect 0 "sign lighttpd path_segments with its directory" '^/dl/[A-Za-z0-9_-]{43}/6b36de6f/v/l1/a[.]ts$' -- \
    $LTS --prefix /dl/v/l1/ /dl/v/l1/a.ts
LTL=$(cat "$TMP/out")
expect 0 "verify: a path_segments link reports its directory" '^scope: /dl/v/l1/$' -- \
    "$MGCTL" verify -p "$TMP/lt.yaml" --now 2026-12-31T23:00:00Z "$(printf '%s' "$LTL" | sed 's,/a[.]ts$,/x/b.ts,')"
expect 1 "verify: the directory's own name is outside the scope" '^reason: token-out-of-scope$' -- \
    "$MGCTL" verify -p "$TMP/lt.yaml" --now 2026-12-31T23:00:00Z "$(printf '%s' "$LTL" | sed 's,/a[.]ts$,,')"
expect 1 "sign: an absolute URL whose path already has a path token" 'already has a bunny token in it' -- \
    "$MGCTL" sign -p "$TMP/lt.yaml" --token-format bunny --ttl 1h 'https://h.example/bcdn_token=x/a.jpg'

cat >"$TMP/bad.yaml" <<'Y'
version: 1
keys:
  - {id: ik1, format: imagekit, alg: hmac-sha256, file: ik.key}
rules: []
Y
expect 1 "validate refuses an algorithm the format does not define" 'bad.yaml:3:5: .*imagekit signs with hmac-sha1, not hmac-sha256' -- \
    "$MGCTL" validate "$TMP/bad.yaml"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
