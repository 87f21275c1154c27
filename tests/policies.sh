#!/bin/sh
# tests/policies.sh — `make check` script test for mgctl and policies/:
#  - every example policy validates, compiles (round trip: the compiled form
#    is itself a valid policy with the same digest) and passes its tests;
#  - a copy of each example with an unknown key, a bad CIDR, an unknown time
#    zone or broken YAML indentation is refused (exit 1) naming file:line:col;
#  - a wrong expectation makes `mgctl test` fail (exit 1) with a trace;
#  - explain shows rule and reason; usage and I/O errors exit 2;
#  - review3: never-matching path patterns and deny.status 401 are refused,
#    the documented class-gap fix compiles with --werror, and the digest is
#    the same for the same files anywhere but changes with a key.
# Environment: MGCTL (the built mgctl), MG_SRCDIR (the source tree).
set -u

MGCTL=${MGCTL:-./mgctl/mgctl}
SRC=${MG_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
POL="$SRC/policies"
PT="$POL/tests"
# the directories made below get the mode the cases expect whatever the
# caller's umask: a group-writable one above a key file is a warning
# (key-file-permissions), which `compile --werror` would turn into a failure
umask 022
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mg-policies.XXXXXX") || exit 99
trap 'rm -rf "$TMP"' EXIT INT TERM

fails=0
checks=0
ok() { checks=$((checks + 1)); }
fail() {
    checks=$((checks + 1))
    fails=$((fails + 1))
    echo "FAIL: $*"
    if [ -s "$TMP/out" ]; then sed 's/^/    | /' "$TMP/out" | head -40; fi
}

# run EXPECTED_STATUS CMD... : output in $TMP/out
run() {
    want=$1
    shift
    "$@" >"$TMP/out" 2>&1
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "expected exit $want, got $got: $*"
        return 1
    fi
    ok
    return 0
}

# expect_in TEXT DESCRIPTION: $TMP/out must contain TEXT (fixed string)
expect_in() {
    if grep -qF -- "$1" "$TMP/out"; then ok; else fail "$2: output lacks '$1'"; fi
}

[ -x "$MGCTL" ] || { echo "mgctl not built: $MGCTL"; exit 99; }

examples=""
for f in "$POL"/*.yaml; do
    case "$f" in *.test.yaml) continue ;; esac
    examples="$examples $f"
done
[ -n "$examples" ] || { echo "no example policies in $POL"; exit 99; }

# ---- the shipped examples are valid, compile, and pass their tests --------
run 0 "$MGCTL" validate "$POL"/*.yaml
# shellcheck disable=SC2086
run 0 "$MGCTL" validate $examples
run 0 "$MGCTL" validate --format github $examples
# shellcheck disable=SC2086
run 0 "$MGCTL" test "$PT"/*.test.yaml && expect_in " 0 failed" "mgctl test summary"

for f in $examples; do
    base=$(basename "$f" .yaml)
    [ -f "$PT/$base.test.yaml" ] || fail "$base.yaml has no tests/$base.test.yaml"
    n=$(grep -c '^  - name:' "$PT/$base.test.yaml" 2>/dev/null)
    n=${n:-0}
    [ "$n" -ge 10 ] && ok || fail "$base.test.yaml has only $n cases (at least 10 wanted)"

    # compile with --werror: the examples are free of warnings too
    run 0 "$MGCTL" compile --werror -o "$TMP/$base.compiled.yaml" "$f" || continue
    head -1 "$TMP/$base.compiled.yaml" >"$TMP/out"
    if grep -Eq '^# mod_media_guard compiled policy v1 sha256:[0-9a-f]{64}$' "$TMP/out"; then ok; else
        fail "$base: first line of the compiled form"
    fi
    digest=$(sed -n '1s/.*sha256://p' "$TMP/$base.compiled.yaml")
    # the digest is the SHA-256 of exactly the compiled text under that line
    body_sum=$(tail -n +2 "$TMP/$base.compiled.yaml" | sha256sum | cut -d' ' -f1)
    if [ "$body_sum" = "$digest" ]; then ok; else
        fail "$base: the digest ($digest) is not the SHA-256 of the compiled text ($body_sum)"
    fi
    run 0 "$MGCTL" validate "$TMP/$base.compiled.yaml" && expect_in "sha256:$digest" \
        "$base: the compiled form has the original's digest"
    run 0 "$MGCTL" compile -o "$TMP/$base.again.yaml" "$TMP/$base.compiled.yaml"
    if cmp -s "$TMP/$base.compiled.yaml" "$TMP/$base.again.yaml"; then ok; else
        fail "$base: compiling the compiled form changes it"
    fi
    # the compiled policy decides like the original: run the same tests on it
    sed "s|^policy: .*|policy: $base.compiled.yaml|" "$PT/$base.test.yaml" >"$TMP/$base.ctest.yaml"
    run 0 "$MGCTL" test -q "$TMP/$base.ctest.yaml"
done

# ---- compile: warnings go to stderr, --werror fails and writes nothing ---------
cat >"$TMP/shadow.yaml" <<'EOF2'
version: 1
roles: [staff]
rules:
  - id: first
    path: /x/
    access: {anonymous: view}
  - id: second
    path: /x/
    access: {staff: download}
EOF2
"$MGCTL" compile -o "$TMP/shadow.out.yaml" "$TMP/shadow.yaml" >"$TMP/out" 2>"$TMP/err"
if [ $? -eq 0 ] && [ ! -s "$TMP/out" ] && grep -q "^$TMP/shadow.yaml:7:5: warning: .*'second'" "$TMP/err"; then
    ok
else
    fail "compile: a shadowed rule is a warning on stderr, exit 0"
fi
run 1 "$MGCTL" compile --werror -o "$TMP/shadow.werror.yaml" "$TMP/shadow.yaml"
if [ -e "$TMP/shadow.werror.yaml" ] || ls "$TMP"/shadow.werror.yaml.* >/dev/null 2>&1; then
    fail "compile --werror left a file behind"
else
    ok
fi

# ---- broken copies are refused with file:line:column -----------------------
# refused FILE LINE COL DESCRIPTION: validate exits 1 and reports an error at
# FILE:LINE:COL (COL "" = any column), in text and GitHub formats.
refused() {
    col=${3:-[0-9]+}
    if run 1 "$MGCTL" validate "$1"; then
        if grep -Eq "^$1:$2:$col: error: " "$TMP/out"; then ok; else
            fail "$4: no error at $1:$2:${3:-<col>}"
        fi
    fi
    cp "$TMP/out" "$TMP/out.text"
    "$MGCTL" validate --format github "$1" >"$TMP/out" 2>&1
    if grep -Eq "^::error file=.*,line=$2,col=$col::" "$TMP/out"; then ok; else
        fail "$4: no ::error annotation for line $2"
    fi
    cp "$TMP/out.text" "$TMP/out"
}

for f in $examples; do
    base=$(basename "$f" .yaml)

    # unknown key: a typo of a top-level key
    c="$TMP/$base.unknown-key.yaml"
    sed 's/^default:/defualt:/' "$f" >"$c"
    line=$(grep -n '^defualt:' "$c" | cut -d: -f1)
    refused "$c" "$line" 1 "$base: unknown key"
    expect_in "did you mean 'default'" "$base: unknown key hint"

    # unknown key inside a rule: an `acess:` typo of `access:`
    c="$TMP/$base.unknown-rule-key.yaml"
    line=$(grep -n '^    access:' "$f" | head -1 | cut -d: -f1)
    sed "${line}s/access:/acess:/" "$f" >"$c"
    refused "$c" "$line" 5 "$base: unknown key in a rule"

    # bad CIDR: an impossible prefix in trusted_proxies (replacing any)
    c="$TMP/$base.bad-cidr.yaml"
    sed -e '/^trusted_proxies:/d' \
        -e 's|^version: 1$|version: 1\ntrusted_proxies: [10.0.0.0/8, 192.0.2.0/33]|' "$f" >"$c"
    line=$(grep -n '^trusted_proxies:' "$c" | cut -d: -f1)
    refused "$c" "$line" 31 "$base: bad CIDR"

    # unknown time zone
    c="$TMP/$base.bad-tz.yaml"
    sed 's|^timezone: .*|timezone: Mars/Olympus_Mons|' "$f" >"$c"
    line=$(grep -n '^timezone:' "$c" | cut -d: -f1)
    refused "$c" "$line" 11 "$base: unknown time zone"

    # broken indentation: the second key of the first mapping indented by four
    # spaces is pulled left by one column, out of its mapping
    c="$TMP/$base.bad-indent.yaml"
    line=$(awk 'prev ~ /^    [a-z_]+:/ && $0 ~ /^    [a-z_]+:/ { print NR; exit } { prev = $0 }' "$f")
    sed "${line}s/^    /   /" "$f" >"$c"
    refused "$c" "$line" "" "$base: broken indentation"
done

# an existing CIDR corrupted in place (intranet-media has ip_sets)
c="$TMP/intranet-media.bad-cidr2.yaml"
sed 's|192.0.2.0/24|192.0.2.1/24|' "$POL/intranet-media.yaml" >"$c"
line=$(grep -n '192.0.2.1/24' "$c" | head -1 | cut -d: -f1)
refused "$c" "$line" 12 "intranet-media: host bits set in a CIDR"

# ---- review3: path patterns, deny status, class split, digest -----------------
# a path pattern copied percent-encoded from a browser never matches: refused
printf 'version: 1\ndefault: allow\nrules:\n  - {id: secret, path: "/my%%20photos/", access: {anonymous: none}}\n' \
    >"$TMP/encoded-path.yaml"
refused "$TMP/encoded-path.yaml" 4 24 "percent-encoded path pattern"
expect_in "(patterns match the decoded path: write '/my photos/')" "encoded path pattern hint"
printf 'version: 1\ndefault: allow\nrules:\n  - {id: p, path: /p/tr:w-100/, access: {anonymous: none}}\n' \
    >"$TMP/tr-path.yaml"
refused "$TMP/tr-path.yaml" 4 19 "tr: segment in a path pattern"
# deny.status 401 would be sent as 403: refused
printf 'version: 1\nroles: [staff]\nrules:\n  - {id: s, path: /s/, access: {staff: view}, deny: {status: 401}}\n' \
    >"$TMP/status401.yaml"
refused "$TMP/status401.yaml" 4 62 "deny.status 401"
expect_in "deny status 401 needs an authentication challenge" "deny.status 401 message"
# the class-gap fix of docs/policy.md passes compile --werror (the CI step)
mkdir -p "$TMP/gap"
"$MGCTL" keygen --id site2026 --out "$TMP/gap/keys" >/dev/null 2>&1
cat >"$TMP/gap/policy.yaml" <<'EOF2'
version: 1
default: deny
roles: [student]
keys: [{id: site2026, file: keys/site2026.key}]
rules:
  - {id: site, path: /, access: {anonymous: view}}
  - {id: courses, path: /courses/, classes: [media], token: required}
  - {id: courses-rest, path: /courses/, access: {anonymous: none, student: view}}
EOF2
run 0 "$MGCTL" compile --werror -o "$TMP/gap/compiled.yaml" "$TMP/gap/policy.yaml"
# the digest: one for the same files anywhere, another for a new key
cp -a "$TMP/gap" "$TMP/gap2"
d1=$(sed -n '1s/.*sha256://p' "$TMP/gap/compiled.yaml")
run 0 "$MGCTL" validate "$TMP/gap2/policy.yaml" && expect_in "sha256:$d1" "digest of a moved policy"
run 0 "$MGCTL" validate "$TMP/gap2/compiled.yaml" && expect_in "sha256:$d1" "digest of a moved compiled form"
rm "$TMP/gap2/keys/site2026.key"
"$MGCTL" keygen --id site2026 --out "$TMP/gap2/keys" >/dev/null 2>&1
if run 0 "$MGCTL" validate "$TMP/gap2/policy.yaml"; then
    if grep -qF "sha256:$d1" "$TMP/out"; then fail "a new key kept the digest"; else ok; fi
fi
# the compiled form pins the key it was compiled with
run 1 "$MGCTL" validate "$TMP/gap2/compiled.yaml" &&
    expect_in "holds another key than the policy pins" "compiled form with another key"

# ---- validate: exit codes and formats ----------------------------------------
run 2 "$MGCTL" validate
run 2 "$MGCTL" validate "$TMP/does-not-exist.yaml"
run 2 "$MGCTL" validate "$POL/photo-site.yaml" "$TMP/does-not-exist.yaml"
run 1 "$MGCTL" validate "$POL/photo-site.yaml" "$TMP/photo-site.bad-tz.yaml"
run 1 "$MGCTL" validate --format json "$TMP/photo-site.bad-tz.yaml" &&
    expect_in '"valid":false' "validate --format json"
run 2 "$MGCTL" validate --format xml "$POL/photo-site.yaml"

# ---- a wrong expectation fails with a trace ----------------------------------
for f in $examples; do
    base=$(basename "$f" .yaml)
    cp "$f" "$TMP/$base.yaml"
    # flip the first expected decision
    awk '!done && /decision: allow/ { sub(/decision: allow/, "decision: deny"); done = 1 } { print }' \
        "$PT/$base.test.yaml" | sed "s|^policy: .*|policy: $base.yaml|" >"$TMP/$base.wrong.test.yaml"
    run 1 "$MGCTL" test "$TMP/$base.wrong.test.yaml" &&
        expect_in "FAIL " "$base: wrong expectation" &&
        expect_in "trace:" "$base: failing case prints the trace" &&
        expect_in "1 failed" "$base: summary counts the failure"
done

# a typo in a test file is refused with its position
sed -e 's/^    expect:/    expetc:/' -e 's|^policy: .*|policy: photo-site.yaml|' \
    "$PT/photo-site.test.yaml" >"$TMP/photo-site.typo.test.yaml"
cp "$POL/photo-site.yaml" "$TMP/photo-site.yaml"
line=$(grep -n '^    expetc:' "$TMP/photo-site.typo.test.yaml" | head -1 | cut -d: -f1)
run 1 "$MGCTL" test "$TMP/photo-site.typo.test.yaml" &&
    expect_in "photo-site.typo.test.yaml:$line:5: error: unknown key 'expetc'" "test file typo"
run 2 "$MGCTL" test "$TMP/no-such.test.yaml"
# a FIFO (or device) as a test file is refused, not waited on
if mkfifo "$TMP/fifo.test.yaml" 2>/dev/null; then
    run 2 timeout 20 "$MGCTL" test "$TMP/fifo.test.yaml" && expect_in "not a regular file" "FIFO test file"
fi

# ---- explain ------------------------------------------------------------------
run 0 "$MGCTL" explain --policy "$POL/photo-site.yaml" /photos/thumbs/a.jpg &&
    expect_in "rule:     thumbnails" "explain text" && expect_in "reason:   allowed" "explain reason"
run 0 "$MGCTL" explain --format json --policy "$POL/photo-site.yaml" --user alice \
    '/photos/originals/a.jpg?download=1' &&
    expect_in '"rule":"originals"' "explain json rule" &&
    expect_in '"reason":"download-not-allowed"' "explain json reason"
run 0 "$MGCTL" explain -p "$POL/video-course.yaml" --user carol --time 2026-03-02T13:30:00Z \
    /live/qa/index.m3u8 && expect_in "outside-time-window" "explain time window"
run 0 "$MGCTL" explain -p "$POL/intranet-media.yaml" --user eve --ip 192.0.2.200 \
    --env MM_COUNTRY_CODE=NL -H 'Sec-Fetch-Site: same-origin' /media/a.jpg &&
    expect_in "ip-denied" "explain ip"
# a client certificate's fields (SSL_CLIENT_*, any case) count only with SSL_CLIENT_VERIFY=SUCCESS,
# as the module asks mod_ssl (MG00208): explain and test say what the server decides
mkdir -p "$TMP/cert"
cat >"$TMP/cert/policy.yaml" <<'EOF2'
version: 1
name: certs
default: deny
roles: [staff]
identity:
  roles_from: [{env: SSL_CLIENT_S_DN_OU}]
rules:
  - {id: staff, path: /staff/, access: {anonymous: none, staff: view}}
EOF2
run 0 "$MGCTL" explain -p "$TMP/cert/policy.yaml" --user carol --env SSL_CLIENT_S_DN_OU=staff \
    --env SSL_CLIENT_VERIFY=SUCCESS /staff/a.jpg && expect_in "reason:   allowed" "explain verified certificate"
run 0 "$MGCTL" explain -p "$TMP/cert/policy.yaml" --user carol --env ssl_Client_S_DN_OU=staff \
    --env SSL_CLIENT_VERIFY=GENEROUS /staff/a.jpg &&
    expect_in "reason:   role-insufficient" "explain unverified certificate" &&
    expect_in "note: --env ssl_Client_S_DN_OU is not used without --env SSL_CLIENT_VERIFY=SUCCESS" \
        "explain unverified certificate note"
cat >"$TMP/cert/policy.test.yaml" <<'EOF2'
policy: policy.yaml
defaults: {user: carol}
tests:
  - name: a verified certificate's OU is a role
    request: {url: /staff/a.jpg, env: {SSL_CLIENT_S_DN_OU: staff, SSL_CLIENT_VERIFY: SUCCESS}}
    expect: {decision: allow}
  - name: an unverified one's is not
    request: {url: /staff/a.jpg, env: {SSL_CLIENT_S_DN_OU: staff, SSL_CLIENT_VERIFY: "FAILED:self-signed certificate"}}
    expect: {decision: deny, reason: role-insufficient}
  - name: nor without SSL_CLIENT_VERIFY
    request: {url: /staff/a.jpg, env: {SSL_CLIENT_S_DN_OU: staff}}
    expect: {decision: deny, reason: role-insufficient}
EOF2
run 0 "$MGCTL" test "$TMP/cert/policy.test.yaml" && expect_in " 0 failed" "mgctl test client certificate"
run 2 "$MGCTL" explain /photos/a.jpg
run 2 "$MGCTL" explain --policy "$POL/photo-site.yaml" --header 'no colon' /a.jpg
run 2 "$MGCTL" explain --policy "$POL/photo-site.yaml" --time yesterday /a.jpg

# JSON output parses (when a Python is around to check it)
PY=$(command -v /usr/bin/python3 || command -v python3 || true)
if [ -n "$PY" ]; then
    "$MGCTL" explain --format json -p "$POL/photo-site.yaml" \
        -H 'Referer: https://evil.example/"quoted"' '/photos/thumbs/a.jpg?x=%22' >"$TMP/out" 2>&1
    if "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["rule"]=="thumbnails" and isinstance(d["trace"], list)' "$TMP/out"; then
        ok
    else
        fail "explain --format json is not the expected JSON"
    fi
    "$MGCTL" test --format json "$TMP/photo-site.wrong.test.yaml" >"$TMP/out" 2>&1
    if "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); f=[c for c in d["cases"] if not c["passed"]]; assert d["failed"]==1 and len(f)==1 and f[0]["decision"]["trace"] and any(not e["ok"] for e in f[0]["expect"])' "$TMP/out"; then
        ok
    else
        fail "test --format json is not the expected JSON"
    fi
    "$MGCTL" validate --format json "$POL/photo-site.yaml" "$TMP/photo-site.bad-tz.yaml" >"$TMP/out" 2>&1
    if "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["valid"] is False and d["diagnostics"][0]["code"]' "$TMP/out"; then
        ok
    else
        fail "validate --format json is not the expected JSON"
    fi
fi

# a test file against a policy with time windows must fix the time
sed -e '/^  time: /d' -e 's|^policy: .*|policy: video-course.yaml|' "$PT/video-course.test.yaml" \
    >"$TMP/video-course.notime.test.yaml"
cp "$POL/video-course.yaml" "$TMP/video-course.yaml"
run 1 "$MGCTL" test "$TMP/video-course.notime.test.yaml" &&
    expect_in "does not fix the request time" "test without a fixed time"

# a role the policy does not declare is a mistake in the test, not a denial
printf 'policy: photo-site.yaml\ntests:\n  - name: typo\n    request: {url: /photos/originals/a.jpg, roles: [subscribr]}\n    expect: {decision: allow}\n' \
    >"$TMP/photo-site.role.test.yaml"
run 1 "$MGCTL" test "$TMP/photo-site.role.test.yaml" &&
    expect_in "$TMP/photo-site.role.test.yaml:3:5: error: test 'typo' gives role 'subscribr'" "undeclared role in a test" &&
    expect_in "did you mean 'subscriber'" "undeclared role hint"
run 2 "$MGCTL" explain -p "$POL/photo-site.yaml" --role subscribr /photos/originals/a.jpg

# github annotations for failing cases
run 1 "$MGCTL" test --format github "$TMP/photo-site.wrong.test.yaml" &&
    expect_in "::error file=$TMP/photo-site.wrong.test.yaml,line=" "test --format github"

# ---- global usage --------------------------------------------------------------
run 2 "$MGCTL"
run 2 "$MGCTL" valdate x.yaml && expect_in "did you mean 'validate'" "command suggestion"
run 0 "$MGCTL" --help
run 0 "$MGCTL" --version
for cmd in validate compile test explain sign verify keygen; do
    run 0 "$MGCTL" "$cmd" --help && expect_in "Usage: mgctl $cmd" "$cmd --help"
    run 0 "$MGCTL" help "$cmd"
done

# ---- keygen: a missing key directory is created private; keys are never overwritten
run 0 "$MGCTL" keygen --id k1 --out "$TMP/keys/new" &&
    expect_in "sign: true" "keygen prints a policy snippet"
if [ "$(stat -c %a "$TMP/keys/new")" = 700 ] && [ "$(stat -c %a "$TMP/keys/new/k1.key")" = 600 ]; then
    ok
else
    fail "keygen: directory should be 0700 and key 0600"
fi
run 2 "$MGCTL" keygen --id k1 --out "$TMP/keys/new" && expect_in "never overwrites" "keygen refuses to overwrite"

echo "policies.sh: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
