#!/bin/sh
# tests/bad-input.sh — `make check` script test: the bad-input matrix for mgctl.
#
# Every case feeds mgctl something broken or hostile — missing, unreadable,
# special or huge files, empty and 50 MB policies, deeply nested YAML, an
# alias bomb, non-UTF-8 and binary bytes, insecure and malformed key files,
# absurd URLs — and requires:
#  - no crash and no hang: the exit status is 1 (refused) or 2 (usage or I/O
#    error), never 124 (killed by `timeout`) or >= 128 (a signal); under the
#    sanitizer build an ASan/UBSan report also aborts, so it fails here too;
#  - a clear message on stderr that names the problem (a pattern per case).
# Warnings-only cases (a world-readable key) exit 0 and must warn; a trusted
# file (or a directory above it) that everyone may write is refused (1). Policies
# on standard input (validate/compile '-', explain --policy -) are checked
# here too, the valid ones (exit 0) included.
# Environment: MGCTL (the built mgctl), MG_SRCDIR (unused), MG_BAD_INPUT_TIMEOUT
# (seconds per command, default 30: generous for sanitizer builds).
set -u

MGCTL=${MGCTL:-./mgctl/mgctl}
LIMIT=${MG_BAD_INPUT_TIMEOUT:-30}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mg-bad-input.XXXXXX") || exit 99
chmod 755 "$TMP"
trap 'rm -rf "$TMP"' EXIT INT TERM

if [ ! -x "$MGCTL" ]; then
    echo "bad-input.sh: MGCTL=$MGCTL is not executable" >&2
    exit 99
fi
command -v timeout >/dev/null || { echo "bad-input.sh: needs timeout(1)" >&2; exit 77; }

fails=0
checks=0

# check NAME ALLOWED_STATUSES PATTERN CMD...
#   ALLOWED_STATUSES: e.g. "1" or "1 2". PATTERN: extended regex, case-insensitive,
#   that mgctl's messages must match ("-": no requirement). Messages are looked
#   for on stderr and stdout: `validate` and `verify` print their findings on
#   stdout (they are their output, also as --format json).
check() {
    stdin=/dev/null
    run_case "$@"
}
# Same, with standard input from the file in $STDIN.
check_stdin() {
    stdin=$STDIN
    run_case "$@"
}
run_case() {
    name=$1 allowed=$2 pattern=$3
    shift 3
    checks=$((checks + 1))
    timeout -k 5 "$LIMIT" "$@" >"$TMP/stdout" 2>"$TMP/stderr" <"$stdin"
    got=$?
    cat "$TMP/stderr" "$TMP/stdout" >"$TMP/both"
    why=""
    if [ "$got" -eq 124 ] || [ "$got" -eq 137 ]; then
        why="hung: killed after ${LIMIT}s"
    elif [ "$got" -ge 128 ]; then
        why="crashed: exit status $got (signal $((got - 128)))"
    else
        case " $allowed " in
        *" $got "*) ;;
        *) why="exit status $got, expected one of: $allowed" ;;
        esac
    fi
    if [ -z "$why" ] && [ "$pattern" != - ] && ! grep -Eqi -- "$pattern" "$TMP/both"; then
        why="no message matching /$pattern/"
    fi
    # A conversion the formatter did not know (APR's has no %zu, %lld, %jd)
    # garbles the message and misreads the arguments.
    if [ -z "$why" ] && grep -Eq '%[-0-9.]*(z|j|t|ll|hh)[diouxX]' "$TMP/both"; then
        why="unexpanded printf conversion in the message"
    fi
    if [ -n "$why" ]; then
        fails=$((fails + 1))
        echo "FAIL: $name: $why"
        echo "    command: $(echo "$*" | cut -c1-200)"
        sed 's/^/    stderr | /' "$TMP/stderr" | cut -c1-300 | head -15
        sed 's/^/    stdout | /' "$TMP/stdout" | cut -c1-300 | head -8
    else
        echo "ok: $name (exit $got)"
    fi
}

# An unprivileged user for the unreadable-file cases (root reads mode-000
# files): "setpriv ... --" as a command prefix, or nothing when impossible.
NOBODY=""
if [ "$(id -u)" -ne 0 ]; then
    NOBODY="env"
elif command -v setpriv >/dev/null && setpriv --reuid=nobody --regid=nogroup --clear-groups -- true 2>/dev/null; then
    NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups --"
fi

# Deterministic pseudo-random bytes (no /dev/urandom: failures must reproduce).
garbage() { # bytes
    LC_ALL=C awk -v n="$1" 'BEGIN { s = 12345; for (i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648;
        printf "%c", int(s / 65536) % 256 } }'
}

P="$TMP/policy.yaml"
good_rules='rules:
  - id: all
    path: /
    access: {anonymous: view}
'

# ---------------------------------------------------------------- policy files
check "missing policy file" "2" "no such file|cannot (open|read)" \
    "$MGCTL" validate "$TMP/does-not-exist.yaml"

mkdir "$TMP/a-directory.yaml"
check "policy path is a directory" "1 2" "directory|cannot (open|read)|not a (regular )?file" \
    "$MGCTL" validate "$TMP/a-directory.yaml"

long=$(printf '%05000d' 0)
check "policy path longer than PATH_MAX" "2" "too long|cannot (open|read)|no such file" \
    "$MGCTL" validate "$TMP/$long.yaml"

printf 'version: 1\n%s' "$good_rules" >"$TMP/unreadable.yaml"
chmod 000 "$TMP/unreadable.yaml"
if [ -n "$NOBODY" ]; then
    check "unreadable policy file" "2" "permission denied|cannot (open|read)" \
        $NOBODY "$MGCTL" validate "$TMP/unreadable.yaml"
else
    echo "skip: unreadable policy file (root without setpriv)"
fi

if command -v mkfifo >/dev/null && mkfifo "$TMP/fifo.yaml"; then
    check "policy path is a FIFO (must not block)" "1 2" "fifo|not a (regular )?file|cannot (open|read)" \
        "$MGCTL" validate "$TMP/fifo.yaml"
fi

ln -s /dev/zero "$TMP/zero.yaml"
check "policy path is /dev/zero (endless)" "1 2" "not a (regular )?file|too (large|big|long)|device|cannot" \
    "$MGCTL" validate "$TMP/zero.yaml"

: >"$P"
check "empty policy" "1" "empty" "$MGCTL" validate "$P"

printf '# nothing but a comment\n\n   \n' >"$P"
check "policy of only comments and blanks" "1" "empty" "$MGCTL" validate "$P"

printf 'version: 1\nrules:\n' >"$P"
yes '  - {id: r, path: /a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p, access: {anonymous: view}}' |
    head -c 52428800 >>"$P"
check "50 MB policy" "1" "too (large|big)|larger|size|MiB|MB|bytes" "$MGCTL" validate "$P"

# ~1.9 MB of ids: under any size limit, so the loader really has to cope.
{
    printf 'version: 1\nrules:\n'
    awk 'BEGIN { for (i = 0; i < 20000; i++) printf "  - {id: r%d, path: /d%d/, access: {anonymous: view}}\n", i, i }'
} >"$P"
check "20,000-rule policy loads (no hang, no crash)" "0" - "$MGCTL" validate -q "$P"

{
    printf 'version: 1\nx: '
    head -c 100000 /dev/zero | tr '\0' '['
} >"$P"
check "100,000 nested flow sequences" "1" "nest|deep|depth" "$MGCTL" validate "$P"

awk 'BEGIN { ind = ""; for (i = 0; i < 2000; i++) { printf "%sk%d:\n", ind, i; ind = ind "  " } printf "%sv\n", ind }' >"$P"
check "2,000 nested block mappings" "1" "nest|deep|depth" "$MGCTL" validate "$P"

{
    printf 'version: 1\n'
    printf 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev=a
    for n in b c d e f g h i j k l m; do
        printf '%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n' $n $n $prev $prev $prev $prev $prev $prev $prev $prev $prev $prev
        prev=$n
    done
    printf '%s' "$good_rules"
} >"$P"
check "YAML alias bomb (billion laughs)" "1" "alias|anchor" "$MGCTL" validate "$P"

printf 'version: 1\nname: caf\351 \377\376\n%s' "$good_rules" >"$P"
check "non-UTF-8 bytes" "1" "utf-?8|encoding|invalid|character" "$MGCTL" validate "$P"

printf 'version: 1\nname: a\000b\n%s' "$good_rules" >"$P"
check "NUL byte inside the policy" "1" "nul|control|character|invalid" "$MGCTL" validate "$P"

printf '\377\376v\000e\000r\000s\000i\000o\000n\000:\000 \0001\000\n\000' >"$P"
check "UTF-16 policy" "1" "utf|encoding|character|invalid" "$MGCTL" validate "$P"

garbage 65536 >"$P"
check "64 KB of binary garbage" "1" "error" "$MGCTL" validate "$P"

garbage 65536 >"$P"
check "binary garbage through compile" "1" "error" "$MGCTL" compile "$P"

printf 'version: 1\n%s' "$good_rules" >"$P"
printf 'cases:\n' >"$TMP/t.yaml"
garbage 4096 >>"$TMP/t.yaml"
check "binary garbage as a policy test file" "1 2" "error|invalid|cannot" "$MGCTL" test "$P" "$TMP/t.yaml"

check "missing policy test file" "2" "no such file|cannot" "$MGCTL" test "$P" "$TMP/nope.test.yaml"

# ---------------------------------------------------------------- key files
K="$TMP/keys"
mkdir "$K"
chmod 755 "$K"
key_policy() { # key file name relative to the policy
    printf 'version: 1\nkeys:\n  - {id: k1, file: %s}\nrules:\n  - id: t\n    path: /\n    token: required\n' "$1" >"$P"
}
good_key='mg-hmac-sha256:LYbrRgTfnn4m4Mrt6-XboEkAqBRdMnMACl8ZX_By2BQ'

key_policy keys/missing.key
check "missing key file" "1" "key.*(no such file|cannot read)" "$MGCTL" validate "$P"
key_policy keys/k1.key
check "missing key file names the keygen that makes it" "1" \
    "no such file or directory \(create it with 'mgctl keygen --id k1 --out [^']*/keys'\)" "$MGCTL" validate "$P"

echo "$good_key" >"$K/unreadable.key"
chmod 000 "$K/unreadable.key"
key_policy keys/unreadable.key
chmod 644 "$P"
if [ -n "$NOBODY" ]; then
    check "unreadable key file" "1" "key.*(permission denied|cannot read)" $NOBODY "$MGCTL" validate "$P"
else
    echo "skip: unreadable key file (root without setpriv)"
fi

echo "$good_key" >"$K/open.key"
chmod 644 "$K/open.key"
key_policy keys/open.key
check "world-readable key file is a warning" "0" "warning.*(readable|chmod)" "$MGCTL" validate "$P"

# Writable by others is worse than readable: whoever can write the file can put
# their own key there and mint links the server accepts (red team 19). A
# public Ed25519 key may be readable, never writable; an HMAC key that only
# others may write was called "readable".
echo "$good_key" >"$K/writable.key"
chmod 602 "$K/writable.key"
key_policy keys/writable.key
check "key file writable by everyone is refused, and says so" "1" \
    "error: key file .*writable.key' of key 'k1' is writable by everyone: anyone on the machine can put their own key there" \
    "$MGCTL" validate "$P"
chmod 620 "$K/writable.key"
check "key file writable by its group is a warning that says so" "0" "warning.*writable by its group.*chmod g-w" \
    "$MGCTL" validate "$P"
printf -- '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n' \
    >"$K/ed.pub"
chmod 666 "$K/ed.pub"
printf 'version: 1\nkeys:\n  - {id: ed, alg: ed25519, file: keys/ed.pub}\nrules:\n  - id: t\n    path: /\n    token: required\n' >"$P"
check "public key writable by everyone is refused" "1" "error.*writable by everyone" "$MGCTL" validate "$P"
check "mgctl verify --key-file: a public key anyone may write is refused" "2" \
    "mgctl verify: error: key file .*ed.pub' is writable by everyone: anyone on the machine" \
    "$MGCTL" verify --key-file "$K/ed.pub" --key-id ed "/a.jpg?mg_exp=1&mg_kid=ed&mg_sig=AAAA"
check "mgctl sign --key-file: the same, nothing signed" "2" "refused: anyone on the machine can replace key file" \
    sh -c '"$0" sign --key-file "$1" --key-id ed --ttl 1h /a.jpg | grep . && exit 3; exit 2' "$MGCTL" "$K/ed.pub"
chmod 644 "$K/ed.pub"
check "a public key readable by others is fine" "0" "-" "$MGCTL" validate "$P"
chmod 666 "$P"
check "a policy anyone may write is refused" "1" "error: the policy is writable by everyone" "$MGCTL" validate "$P"
check "... by mgctl compile too (nothing printed on stdout)" "1" "error: the policy is writable by everyone" \
    sh -c '"$0" compile "$1" | grep . && exit 3; exit 1' "$MGCTL" "$P"
chmod 644 "$P"
# a foreign format's secret (lib/mg_fmt.c) is warned about in the same words
printf 'supersecretvalue1234567890abcdef\n' >"$K/vendor.key"
printf 'version: 1\nkeys:\n  - {id: ik, format: imagekit, file: keys/vendor.key}\nrules:\n  - id: t\n    path: /\n    token: required\n' >"$P"
chmod 640 "$K/vendor.key"
check "a vendor secret readable by group is a warning" "0" "warning: key file .*vendor.key' of key 'ik' is readable by group or others" \
    "$MGCTL" validate "$P"
chmod 620 "$K/vendor.key"
check "a vendor secret writable by group is a warning" "0" "warning: key file .*vendor.key' of key 'ik' is writable by its group" \
    "$MGCTL" validate "$P"
chmod 600 "$K/vendor.key"
check "a vendor secret only its owner may read is no warning" "0" "ok \\(policy" \
    sh -c '"$0" validate "$1" 2>&1 | tee /dev/stderr | grep -q warning && exit 3; exit 0' "$MGCTL" "$P"

# a CloudFront key file is a public key: readable is fine (it was told to chmod 600 it, red team 23b),
# writable is not
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null |
    openssl pkey -pubout -out "$K/cf.pub" 2>/dev/null
printf 'version: 1\nkeys:\n  - {id: cf, format: cloudfront, alg: ecdsa-sha1, file: keys/cf.pub, options: {origin: "https://a.example"}}\nrules:\n  - {id: t, path: /, token: required}\n' \
    >"$TMP/cf.yaml"
chmod 644 "$K/cf.pub"
check "a CloudFront public key readable by others is no warning" "0" "ok \\(policy" \
    sh -c '"$0" validate "$1" 2>&1 | tee /dev/stderr | grep -q warning && exit 3; exit 0' "$MGCTL" "$TMP/cf.yaml"
chmod 666 "$K/cf.pub"
check "a CloudFront public key everyone may write is refused" "1" \
    "error: key file .*cf.pub' of key 'cf' is writable by everyone" "$MGCTL" validate "$TMP/cf.yaml"
chmod 644 "$K/cf.pub"

: >"$K/empty.key"
chmod 600 "$K/empty.key"
key_policy keys/empty.key
check "empty key file" "1" "key" "$MGCTL" validate "$P"

garbage 4096 >"$K/garbage.key"
chmod 600 "$K/garbage.key"
key_policy keys/garbage.key
check "binary garbage key file" "1" "key" "$MGCTL" validate "$P"

printf 'mg-hmac-sha256:c2hvcnQ\n' >"$K/short.key"
chmod 600 "$K/short.key"
key_policy keys/short.key
check "HMAC secret shorter than 32 bytes" "1" "short|bytes|at least" "$MGCTL" validate "$P"

{
    printf 'mg-hmac-sha256:'
    head -c 52428800 /dev/zero | tr '\0' 'A'
    printf '\n'
} >"$K/huge.key"
chmod 600 "$K/huge.key"
key_policy keys/huge.key
check "50 MB key file" "1" "key" "$MGCTL" validate "$P"

mkdir "$K/dir.key"
key_policy keys/dir.key
check "key file is a directory" "1" "key" "$MGCTL" validate "$P"

ln -s /dev/zero "$K/zero.key"
key_policy keys/zero.key
check "key file is /dev/zero (endless)" "1" "key" "$MGCTL" validate "$P"

if mkfifo "$K/fifo.key" 2>/dev/null; then
    key_policy keys/fifo.key
    check "key file is a FIFO (must not block)" "1" "key" "$MGCTL" validate "$P"
fi

# a quoted key or test name with a line break printed a line of its choosing (in a CI log, "::" starts a
# GitHub workflow command): every diagnostic and PASS/FAIL line stays one line (red team 23b)
printf 'version: 1\n"a\\n::warning file=x.yaml,line=1::injected": 1\nrules: []\n' >"$TMP/inject.yaml"
check "a line break a policy quotes is escaped, not printed" "0" - \
    sh -c '"$0" validate "$1"; ! "$0" validate "$1" 2>&1 | grep -q "^::"' "$MGCTL" "$TMP/inject.yaml"
printf 'version: 1\nrules:\n  - {id: t, path: /, access: {anonymous: view}}\n' >"$TMP/inject-ok.yaml"
printf 'policy: inject-ok.yaml\ntests:\n  - name: "x\\n::error file=a,line=1::injected"\n    request: {url: /a.jpg}\n    expect: {decision: deny}\n' \
    >"$TMP/inject.test.yaml"
check "a line break in a test name is escaped in its FAIL line" "0" - \
    sh -c '"$0" test "$1"; ! "$0" test "$1" 2>&1 | grep -q "^::"' "$MGCTL" "$TMP/inject.test.yaml"
# ... and in what a FAIL line, explain and validate echo: the request's method and URL, the decision's message
# (text and --format github, whose own annotations start with "::error"), a file name (red team 23c)
printf 'version: 1\nrules:\n  - {id: t, path: /, access: {anonymous: view}}\n  - {id: d, path: /d/, access: {anonymous: none}, deny: {status: 403, message: "m\\n::warning file=m::injected-message"}}\n' \
    >"$TMP/inject-msg.yaml"
printf 'policy: inject-msg.yaml\ntests:\n  - name: u\n    request: {url: "/photos/thumbs/a.jpg\\n::warning file=x::injected-url"}\n    expect: {decision: allow}\n  - name: m\n    request: {method: "GET\\n::warning file=x::injected-method", url: /a.jpg}\n    expect: {decision: allow}\n  - name: d\n    request: {url: /d/a.jpg}\n    expect: {decision: allow}\n' \
    >"$TMP/inject-req.test.yaml"
check "a line break in a test's URL, method or a policy's message is escaped in a FAIL block" "0" - \
    sh -c '! "$0" test "$1" 2>&1 | grep -q "^ *::" && ! "$0" test --format github "$1" 2>&1 | grep -q "^ *::warning"' \
    "$MGCTL" "$TMP/inject-req.test.yaml"
check "a line break in a policy's message or the URL is escaped by explain" "0" - \
    sh -c '! "$0" explain --policy "$1" "/d/a.jpg" 2>&1 | grep -q "^ *::" && ! "$0" explain --policy "$1" "/a
::warning file=x::injected" 2>&1 | grep -q "^ *::"' "$MGCTL" "$TMP/inject-msg.yaml"
cp "$TMP/inject-req.test.yaml" "$TMP/inject
::warning file=t::injected.test.yaml"
printf 'tests: 1\n' >"$TMP/inject
::warning file=t::injected-invalid.test.yaml"
check "a line break in a test file's name is escaped in its heading and 'invalid test file' line" "0" - \
    sh -c '! "$0" test "$1" "$2" 2>&1 | grep -q "^ *::"' "$MGCTL" "$TMP/inject
::warning file=t::injected.test.yaml" "$TMP/inject
::warning file=t::injected-invalid.test.yaml"
cp "$TMP/inject-ok.yaml" "$TMP/inject
::warning file=v::injected-file.yaml"
check "a line break in a policy's file name is escaped in validate's ok line" "0" - \
    sh -c '"$0" validate "$1" && ! "$0" validate "$1" 2>&1 | grep -q "^::"' "$MGCTL" "$TMP/inject
::warning file=v::injected-file.yaml"
# a device named as the country database is never opened (opening one can act: a watchdog arms,
# a tape rewinds); without a controlling terminal, opening /dev/tty fails ENXIO, so a message
# other than "not a regular file" means it was opened (red team 23b)
printf 'version: 1\ncountry: {from: {mmdb: /dev/tty}}\nrules:\n  - {id: t, path: /, access: {anonymous: view}}\n' \
    >"$TMP/mmdb-dev.yaml"
check "a device named as the country database is refused before it is opened" "1" \
    "mmdb-dev.yaml:2:24: error: country.from.mmdb: '/dev/tty' is not a regular file" \
    setsid -w "$MGCTL" validate "$TMP/mmdb-dev.yaml"
# the identity point as an Ed25519 public key: R = identity, S = 0 verified every link (red team 23b)
printf -- '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n-----END PUBLIC KEY-----\n' \
    >"$K/small-order.pub"
check "verify with an Ed25519 public key of small order: refused, no forged link valid" "2" \
    "small-order.pub': the Ed25519 public key is a point of small order" \
    "$MGCTL" verify --key-file "$K/small-order.pub" --key-id ed \
    "/a.jpg?mg_exp=4102444800&mg_kid=ed&mg_sig=AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
check "sign with a missing key file" "2" "no such file|cannot read" \
    "$MGCTL" sign --key-file "$K/missing.key" --key-id k1 --ttl 1h /a.jpg
check "sign with a garbage key file" "2" "key" \
    "$MGCTL" sign --key-file "$K/garbage.key" --key-id k1 --ttl 1h /a.jpg
: >"$TMP/a-file"
check "keygen into a path below a regular file" "1 2" "not a directory|cannot|exist" \
    "$MGCTL" keygen --id k9 --out "$TMP/a-file/sub"
mkdir -p "$TMP/kg"
"$MGCTL" keygen --id k8 --out "$TMP/kg" >/dev/null 2>&1
check "keygen never overwrites a key file" "1 2" "exist|overwrit|refus" \
    "$MGCTL" keygen --id k8 --out "$TMP/kg"
check "keygen with an invalid key id" "1 2" "id" "$MGCTL" keygen --id '../../etc/x' --out "$TMP"
# A rename or link is durable only once its directory is synced: keygen
# and compile -o fsync the directory they wrote into (seen with strace, in
# scripts/quickstart's PACKAGES; LeakSanitizer cannot run under ptrace, so
# the ASan build's leak check is off for that one run).
if command -v strace >/dev/null 2>&1 && strace -o /dev/null true 2>/dev/null; then
    for cmd in "keygen --id k1 --out" "compile -o"; do
        check "$cmd: the directory is fsynced after the rename or link" "0" - \
            sh -c 'd="$1/sync-$(echo "$2" | cut -c1-4)"; mkdir -m 700 "$d" || exit 3
                   case "$2" in keygen*) o="$d" p= ;; *) o="$d/p.yaml" p=$3 ;; esac
                   ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
                   strace -f -e trace=openat,fsync -o "$d.trace" "$0" $2 "$o" ${p:+"$p"} >/dev/null || exit 4
                   awk -v d="\"$d\", O_RDONLY" '"'"'index($0, d) { n = split($0, a, "= "); fd = a[n] + 0 }
                        fd != "" && index($0, "fsync(" fd ")") { ok = 1 } END { exit !ok }'"'"' "$d.trace"' \
            "$MGCTL" "$TMP" "$cmd" "$MG_SRCDIR/policies/photo-site.yaml"
    done
else
    echo "skip: the directory fsync (needs strace)"
fi
# mkstemp's 0600 is less the umask: under umask 0277 the key was 0400.
check "keygen under umask 0277: the key is mode 0600" "0" - \
    sh -c 'umask 0277; "$0" keygen --id k7 --out "$1" >/dev/null && [ "$(stat -c %a "$1/k7.key")" = 600 ]' \
    "$MGCTL" "$TMP/kg"

# ---------------------------------------------------------------- URLs and streams
echo "$good_key" >"$K/k1.key"
chmod 600 "$K/k1.key"
key_policy keys/k1.key

{
    printf '/'
    head -c 1048576 /dev/zero | tr '\0' 'a'
} >"$TMP/long-url"
# One 1 MB line on sign's standard input (an argument that long exceeds ARG_MAX).
STDIN="$TMP/long-url"
check_stdin "sign a 1 MB URL" "1" "long|too|refus|invalid|error|cannot" \
    "$MGCTL" sign --key-file "$K/k1.key" --key-id k1 --ttl 1h
head -c 100000 "$TMP/long-url" >"$TMP/url-100k"
check "verify a 100 KB URL" "1 2" "long|too|refus|invalid|error|malformed|bad" \
    "$MGCTL" verify --policy "$P" "$(cat "$TMP/url-100k")"
# Refused by canonicalisation, so the module answers bad-url before it reads a token: verify says the same.
check "verify a URL with an encoded NUL" "1" "reason: bad-url" \
    "$MGCTL" verify --policy "$P" '/a%00.jpg?mg_exp=1&mg_kid=k1&mg_sig=AAAA'
check "verify a URL with a spelling of 'tr' PHP reads" "1" "reason: bad-url" \
    "$MGCTL" verify --policy "$P" '/a.jpg?tr%5B%5D=w-1&mg_exp=1&mg_kid=k1&mg_sig=AAAA'
check "verify a URL with duplicate token parameters" "1" "malformed|repeat|duplicate|more than once|twice" \
    "$MGCTL" verify --policy "$P" '/a.jpg?mg_exp=1999999999&mg_exp=1999999999&mg_kid=k1&mg_sig=AAAA'

garbage 200000 >"$TMP/garbage-lines"
STDIN="$TMP/garbage-lines"
check_stdin "sign a stream of binary garbage lines" "1" "." \
    "$MGCTL" sign --key-file "$K/k1.key" --key-id k1 --ttl 1h

# ---------------------------------------------------------------- policies on standard input
# validate/compile '-' and explain --policy '-' read the policy from stdin:
# diagnostics name <stdin> (or --stdin-name NAME) with line:column in every
# format; the 16 MiB bound holds (exit 1 like a file over it, the rest left
# unread); relative
# key paths resolve against the current directory, or NAME's directory.
case $MGCTL in /*) MGCTL_ABS=$MGCTL ;; *) MGCTL_ABS=$(pwd)/$MGCTL ;; esac
# sh -c "$IN_DIR" DIR CMD...: run CMD in DIR (for the relative-path cases)
IN_DIR='cd "$0" && exec "$@"'

printf 'version: 1\n%s' "$good_rules" >"$TMP/stdin-good.yaml"
STDIN="$TMP/stdin-good.yaml"
check_stdin "valid policy on stdin" "0" "^<stdin>: ok \(policy policy, 1 rules" "$MGCTL" validate -
check_stdin "valid policy on stdin through compile" "0" "^# mod_media_guard compiled policy v1 sha256:" \
    "$MGCTL" compile -
check_stdin "valid policy on stdin through explain --policy -" "0" "^rule: +all" \
    "$MGCTL" explain --policy - /a.jpg
check_stdin "stdin with --stdin-name is named and loads like that file" "0" \
    "^conf/site.yaml: ok \(policy site," "$MGCTL" validate --stdin-name conf/site.yaml -
check_stdin "a file and stdin in one run" "0" "2 of 2 files valid" \
    "$MGCTL" validate "$TMP/stdin-good.yaml" -

printf 'version: 1\nrules:\n  - id: all\n    path: /\n    acess: {anonymous: view}\n' >"$TMP/stdin-bad.yaml"
STDIN="$TMP/stdin-bad.yaml"
check_stdin "invalid policy on stdin: <stdin>:L:C" "1" "^<stdin>:5:5: error: unknown key 'acess'" \
    "$MGCTL" validate -
check_stdin "invalid policy on stdin, --stdin-name" "1" "^policies/site.yaml:5:5: error: unknown key" \
    "$MGCTL" validate --stdin-name policies/site.yaml -
check_stdin "invalid policy on stdin, --format json" "1" \
    '"file":"<stdin>","line":5,"col":5,"severity":"error","code":"unknown-key"' \
    "$MGCTL" validate --format json -
check_stdin "invalid policy on stdin, --format github" "1" "^::error file=<stdin>,line=5,col=5::unknown key" \
    "$MGCTL" validate --format github -
check_stdin "invalid policy on stdin, --format github --stdin-name" "1" \
    "^::error file=policies/site.yaml,line=5,col=5::" \
    "$MGCTL" validate --format github --stdin-name policies/site.yaml -
check_stdin "invalid policy on stdin through compile" "1" "^<stdin>:5:5: error: unknown key" \
    "$MGCTL" compile -o "$TMP/never-written.yaml" -
check_stdin "invalid policy on stdin through explain" "1" "^pol.yaml:5:5: error: unknown key" \
    "$MGCTL" explain --policy - --stdin-name pol.yaml /a.jpg
if [ -e "$TMP/never-written.yaml" ]; then
    fails=$((fails + 1))
    echo "FAIL: compile of an invalid stdin policy wrote its output file"
fi

: >"$TMP/stdin-empty.yaml"
STDIN="$TMP/stdin-empty.yaml"
check_stdin "empty stdin: the empty-policy error" "1" "^<stdin>: error: the policy is empty" \
    "$MGCTL" validate -

# 16 MiB + 1 byte of comments: one byte over the bound.
{
    head -c 16777216 /dev/zero | tr '\0' '#'
    printf '#'
} >"$TMP/stdin-big.yaml"
STDIN="$TMP/stdin-big.yaml"
check_stdin "stdin one byte over 16 MiB: exit 1 (invalid, as a file over it), the size error" "1" \
    "^<stdin>: error: the policy is larger than 16 MiB" "$MGCTL" validate -
check_stdin "stdin over 16 MiB through compile" "1" "larger than 16 MiB" "$MGCTL" compile -
check_stdin "stdin over 16 MiB through explain --policy -" "1" "larger than 16 MiB" \
    "$MGCTL" explain --policy - /a.jpg
check_stdin "stdin over 16 MiB, --format json" "1" '"code":"file-too-large"' \
    "$MGCTL" validate --format json -
check "endless stdin is refused at the bound, not read forever" "1" "larger than 16 MiB" \
    sh -c 'yes "# an endless policy" | "$0" validate -' "$MGCTL_ABS"

STDIN="$TMP/stdin-good.yaml"
check_stdin "'-' twice" "2" "only once" "$MGCTL" validate - -
check_stdin "'-' twice among files" "2" "only once" "$MGCTL" validate - "$TMP/stdin-good.yaml" -
check "--stdin-name without '-'" "2" "stdin-name.*'-'" \
    "$MGCTL" validate --stdin-name x.yaml "$TMP/stdin-good.yaml"
check_stdin "empty --stdin-name" "2" "stdin-name needs a NAME" "$MGCTL" validate --stdin-name '' -
check_stdin "mgctl test - is refused: test files name their policy by path" "2" \
    "standard input.*validate, compile and explain" "$MGCTL" test -
check_stdin "sign --policy - is refused" "2" "standard input.*validate, compile and explain" \
    "$MGCTL" sign --policy - --ttl 1h /a.jpg
check_stdin "verify --policy - is refused" "2" "standard input.*validate, compile and explain" \
    "$MGCTL" verify --policy - /a.jpg

# Relative key paths: $P says keys/k1.key, and $TMP/keys/k1.key exists.
key_policy keys/k1.key
STDIN=$P
check_stdin "stdin policy: a relative key path resolves against the current directory" "0" - \
    sh -c "$IN_DIR" "$TMP" "$MGCTL_ABS" validate -
check_stdin "stdin policy elsewhere: the key is looked for in the current directory" "1" \
    "^<stdin>:.*kg/keys/k1.key.*(no such file|cannot)" sh -c "$IN_DIR" "$TMP/kg" "$MGCTL_ABS" validate -
check_stdin "stdin policy elsewhere with --stdin-name: the key resolves against its directory" "0" - \
    sh -c "$IN_DIR" "$TMP/kg" "$MGCTL_ABS" validate --stdin-name "$TMP/policy.yaml" -
check_stdin "a relative --stdin-name resolves against the current directory" "0" - \
    sh -c "$IN_DIR" "$TMP/.." "$MGCTL_ABS" validate --stdin-name "$(basename "$TMP")/policy.yaml" -
check_stdin "explain --policy - --stdin-name: the key resolves against its directory" "0" \
    "^decision: " sh -c "$IN_DIR" "$TMP/kg" "$MGCTL_ABS" explain --policy - --stdin-name ../policy.yaml /a.jpg
printf 'version: 1\ntokens:\n  revocation_file: revoked.txt\n%s' "$good_rules" >"$TMP/stdin-rev.yaml"
printf 'aaaa\n' >"$TMP/kg/revoked.txt"
STDIN="$TMP/stdin-rev.yaml"
check_stdin "stdin policy: a relative revocation file resolves against the current directory" "0" - \
    sh -c "$IN_DIR" "$TMP/kg" "$MGCTL_ABS" validate -
check_stdin "stdin policy: revocation file missing from the --stdin-name directory" "1" \
    "revocation file '$TMP/revoked.txt'" sh -c "$IN_DIR" "$TMP/kg" "$MGCTL_ABS" validate --stdin-name "$TMP/x.yaml" -
# whoever can write the revocation list can take a revoked link off it: a
# world-writable one is refused; group write is left alone (exit 3 below
# when the warning shows up where it must not)
cp "$TMP/stdin-rev.yaml" "$TMP/kg/rev.yaml"
chmod 666 "$TMP/kg/revoked.txt"
check "a revocation file anyone may write is refused" "1" \
    "rev.yaml:3:20: error: revocation file '$TMP/kg/revoked.txt' is writable by everyone" "$MGCTL" validate "$TMP/kg/rev.yaml"
chmod 664 "$TMP/kg/revoked.txt"
check "a revocation file its group may write is no warning" "0" "ok \\(policy" \
    sh -c '"$0" validate "$1" 2>&1 | tee /dev/stderr | grep -q writable && exit 3; exit 0' \
    "$MGCTL" "$TMP/kg/rev.yaml"
chmod 644 "$TMP/kg/revoked.txt"

# A directory above a trusted file that others may write (without the sticky
# bit) lets them rename a file of their own over it, whatever the file's own
# mode (lib/mg_dirs.h, the way OpenSSH's StrictModes reasons): the file's own
# diagnostic code, the directory and why (everyone: refused; a group: a
# warning); a sticky directory (/tmp's 1777) is safe. Group write counts where
# the file's own check counts it (key files), not elsewhere. Symbolic links:
# the path as given and the resolved path.
no_warning() { # NAME CMD... : exit 0, "ok (policy", and no "warning" anywhere
    n=$1
    shift
    check "$n" "0" "ok \\(policy" sh -c '"$@" 2>&1 | tee /dev/stderr | grep -q warning && exit 3; exit 0' sh "$@"
}
D="$TMP/dirs"
mkdir -p "$D/ww/keys" "$D/sticky/keys" "$D/safe/keys"
chmod 755 "$D" "$D/ww/keys" "$D/sticky/keys" "$D/safe" "$D/safe/keys"
chmod 777 "$D/ww"
chmod 1777 "$D/sticky"
for d in ww sticky safe; do
    echo "$good_key" >"$D/$d/keys/k1.key"
    chmod 600 "$D/$d/keys/k1.key"
    printf 'supersecretvalue1234567890abcdef\n' >"$D/$d/keys/vendor.key"
    chmod 600 "$D/$d/keys/vendor.key"
    printf 'aaaa\n' >"$D/$d/revoked.txt"
    printf 'version: 1\nkeys:\n  - {id: k1, file: keys/k1.key}\n  - {id: ik, format: imagekit, file: keys/vendor.key}\ntokens:\n  revocation_file: revoked.txt\n%s' \
        "$good_rules" >"$D/$d/p.yaml"
done
check "a world-writable directory above the policy refuses it (policy-file-permissions)" "1" \
    "p.yaml: error: directory '$D/ww' above the policy is writable by everyone and has no sticky bit" \
    "$MGCTL" validate "$D/ww/p.yaml"
# the policy file itself is refused before its keys are read, and key
# files are read only when the rest is valid: the other files' findings are
# seen from policies outside the directory
printf 'version: 1\nkeys:\n  - {id: k1, file: ww/keys/k1.key}\n  - {id: ik, format: imagekit, file: ww/keys/vendor.key}\n%s' \
    "$good_rules" >"$D/above.yaml"
check "... above a key file: key-file-permissions at the key, native" "1" \
    "above.yaml:3:5: error: directory '$D/ww' above key file '$D/ww/keys/k1.key' of key 'k1' is writable by its group and by everyone and has no sticky bit: .*chmod go-w" \
    "$MGCTL" validate "$D/above.yaml"
check "... and foreign" "1" \
    "above.yaml:4:5: error: directory '$D/ww' above key file '$D/ww/keys/vendor.key' of key 'ik' is writable by its group and by everyone and has no sticky bit: .*chmod go-w" \
    "$MGCTL" validate "$D/above.yaml"
printf 'version: 1\ntokens:\n  revocation_file: ww/revoked.txt\n%s' "$good_rules" >"$D/above-rev.yaml"
check "... above the revocation file" "1" \
    "above-rev.yaml:3:20: error: directory '$D/ww' above the revocation file '$D/ww/revoked.txt' is writable by everyone" \
    "$MGCTL" validate "$D/above-rev.yaml"
check "... as json, with the file's own codes" "1" - \
    sh -c '"$0" validate --format json "$1" | python3 -c "import json,sys; d=json.load(sys.stdin)[\"diagnostics\"]; c=sorted((x[\"code\"], x[\"severity\"]) for x in d if \"above\" in x[\"message\"]); assert c == [(\"key-file-permissions\", \"error\")]*2, c" && exit 1' \
    "$MGCTL" "$D/above.yaml"
check "mgctl verify --key-file: a world-writable directory above the key refuses it" "2" \
    "mgctl verify: error: directory '$D/ww' above key file '$D/ww/keys/k1.key' is writable by its group and by everyone" \
    "$MGCTL" verify --key-file "$D/ww/keys/k1.key" --key-id k1 "/a.jpg?mg_exp=1&mg_kid=k1&mg_sig=AAAA"
no_warning "a world-writable directory with the sticky bit is no warning" "$MGCTL" validate "$D/sticky/p.yaml"
no_warning "directories only their owner may write are no warning" "$MGCTL" validate "$D/safe/p.yaml"
chmod 775 "$D/safe" "$D/safe/keys"
check "a group-writable directory above a key file is a warning (as a group-writable key is)" "0" \
    "warning: directory '$D/safe/keys' above key file '$D/safe/keys/k1.key' of key 'k1' is writable by its group" \
    "$MGCTL" validate "$D/safe/p.yaml"
chmod 755 "$D/safe/keys"
check "a group-writable directory above the policy and revocation file is no warning for them (group write of those files is left alone too), only for the keys below it" "0" \
    "warning: directory '$D/safe' above key file '$D/safe/keys/k1.key' of key 'k1' is writable by its group" \
    sh -c '"$0" validate "$1" 2>&1 | tee /dev/stderr | grep -Eq "above the (policy|revocation)" && exit 3; exit 0' \
    "$MGCTL" "$D/safe/p.yaml"
chmod 755 "$D/safe"
# a link to the policy from a world-writable directory: the link can be replaced
ln -s "$D/safe/p.yaml" "$D/ww/link.yaml"
check "a link in a world-writable directory: the path as given is checked" "1" \
    "link.yaml: error: directory '$D/ww' above the policy is writable by everyone" \
    "$MGCTL" validate "$D/ww/link.yaml"
# a link from a safe directory to a policy in a world-writable one: the bytes can be replaced
ln -s "$D/ww/p.yaml" "$D/safe/to-ww.yaml"
check "a link to a file in a world-writable directory: the resolved path is checked" "1" \
    "to-ww.yaml: error: directory '$D/ww' above the policy \(its path with symbolic links resolved\) is writable by everyone" \
    "$MGCTL" validate "$D/safe/to-ww.yaml"
rm -f "$D/ww/link.yaml" "$D/safe/to-ww.yaml"
chmod 755 "$D/ww"

# Owners of a secret's path (lib/mg_dirs.h). mgctl keygen writes a key only
# where nobody but the user running it and root can change it: a key written
# into a directory someone else made (or through their link in /tmp) is
# swapped by them for one they know, a 0600 file of theirs that nothing warned
# about, and the policy then accepts their links (red team 21b). The loader
# warns about another user owning the key, a directory above it or a link on
# its path. The owner cases need root (chown) and an unprivileged user.
O="$TMP/owners"
mkdir -p "$O/ww" "$O/gw" "$O/sticky" "$O/mine"
chmod 755 "$O" "$O/mine"
chmod 777 "$O/ww"
chmod 775 "$O/gw"
chmod 1777 "$O/sticky"
check "keygen refuses a world-writable directory" "2" \
    "directory '$O/ww' above the new key file '$O/ww/k1.key' is writable by its group and by everyone" \
    "$MGCTL" keygen --id k1 --out "$O/ww"
check "... and writes nothing" "2" \
    "refused: no key written to $O/ww \\(write it into a directory that only you or root can change\\)" \
    sh -c '"$0" keygen --id k1 --out "$1"; rc=$?; [ -e "$1/k1.key" ] && exit 3; exit $rc' "$MGCTL" "$O/ww"
check "keygen refuses a group-writable directory" "2" \
    "directory '$O/gw' above the new key file '$O/gw/k1.key' is writable by its group and has no sticky bit" \
    "$MGCTL" keygen --id k1 --out "$O/gw"
check "keygen refuses a new directory below a world-writable one" "2" \
    "directory '$O/ww' above the new key file '$O/ww/sub/k1.key' is writable" \
    "$MGCTL" keygen --id k1 --alg ed25519 --out "$O/ww/sub"
check "keygen writes into a sticky world-writable directory (/tmp's 1777) it owns the file in" "0" \
    "wrote $O/sticky/k1.key" "$MGCTL" keygen --id k1 --out "$O/sticky"
if [ "$(id -u)" -eq 0 ] && [ -n "$NOBODY" ] && [ "$NOBODY" != env ]; then
    mkdir "$O/theirs"
    chown nobody "$O/theirs"
    check "keygen refuses a directory another user owns (they would swap the key)" "2" \
        "directory '$O/theirs' above the new key file '$O/theirs/k1.key' is owned by user 'nobody' \\(uid [0-9]+\\), neither root nor the user reading it: that user can rename a file of their own over it" \
        "$MGCTL" keygen --id k1 --out "$O/theirs"
    $NOBODY ln -s "$O/mine" "$O/sticky/keys"
    check "keygen refuses a path through another user's link in /tmp (they would re-point it)" "2" \
        "symbolic link '$O/sticky/keys' on the path of the new key file '$O/sticky/keys/k1.key' is owned by user 'nobody'" \
        "$MGCTL" keygen --id k1 --out "$O/sticky/keys"
    # root's own link to a directory root owns, below one another user owns:
    # the directories above the link's target count too (the new key does not
    # exist yet, so the target is found from the directory that will hold it)
    mkdir -p "$O/theirs2/mg"
    chmod 700 "$O/theirs2/mg"
    chown nobody "$O/theirs2"
    ln -s "$O/theirs2/mg" "$O/rootlink"
    check "keygen refuses root's link to a directory below another user's (they would rename it away)" "2" \
        "directory '$O/theirs2' above the new key file '$O/rootlink/k1.key' \\(its path with symbolic links resolved\\) is owned by user 'nobody'" \
        "$MGCTL" keygen --id k1 --out "$O/rootlink"
    # the loader: what keygen refuses to make is a warning where it exists
    echo "$good_key" >"$O/theirs/k1.key"
    chmod 600 "$O/theirs/k1.key"
    printf 'version: 1\nkeys:\n  - {id: k1, file: theirs/k1.key}\n%s' "$good_rules" >"$O/p-theirs.yaml"
    check "a key in a directory another user owns is a key-file-permissions warning" "0" \
        "p-theirs.yaml:3:5: warning: directory '$O/theirs' above key file '$O/theirs/k1.key' of key 'k1' is owned by user 'nobody'" \
        "$MGCTL" validate "$O/p-theirs.yaml"
    echo "$good_key" >"$O/mine/k2.key"
    chmod 600 "$O/mine/k2.key"
    chown nobody "$O/mine/k2.key"
    printf 'version: 1\nkeys:\n  - {id: k2, file: mine/k2.key}\n%s' "$good_rules" >"$O/p-file.yaml"
    check "a key file another user owns (mode 0600) is a warning" "0" \
        "p-file.yaml:3:5: warning: key file '$O/mine/k2.key' of key 'k2' is owned by user 'nobody' \\(uid [0-9]+\\), neither root nor the user reading it: that user can replace it" \
        "$MGCTL" validate "$O/p-file.yaml"
    check "mgctl sign --key-file: the same warning" "0" "warning: key file '$O/mine/k2.key' is owned by user 'nobody'" \
        "$MGCTL" sign --key-file "$O/mine/k2.key" --key-id k2 --ttl 1h /a.jpg
    chown root "$O/mine/k2.key"
    no_warning "a key root owns in a directory root owns is no warning" "$MGCTL" validate "$O/p-file.yaml"
else
    echo "skip: the owner cases of keygen and key files need root and setpriv"
fi

# Time zone files: a policy's time windows read TZif files from
# $MG_ZONEINFO (or /usr/share/zoneinfo); whoever may write one moves the
# windows. The country database's rule: everyone writing the file or a
# directory above it (no sticky bit) is a warning, group write is not (a data
# file that a package or deploy group keeps, not a secret). One warning per
# zone, however many windows name it.
Z="$TMP/zoneinfo"
mkdir -p "$Z/Europe"
chmod 755 "$Z" "$Z/Europe"
cp /usr/share/zoneinfo/Europe/Berlin "$Z/Europe/Berlin"
chmod 666 "$Z/Europe/Berlin"
printf 'version: 1\ntimezone: Europe/Berlin\ntime_windows:\n  w1: {timezone: Europe/Berlin, hours: ["09:00-17:00"]}\n  w2: {timezone: Europe/Berlin, days: [mon]}\n%s' \
    "$good_rules" >"$D/safe/tz.yaml"
check "a time zone file anyone may write is a timezone-file-permissions error at the zone" "1" \
    "tz.yaml:2:11: error: time zone file '$Z/Europe/Berlin' is writable by everyone: whoever can write it moves the time windows in that zone \(chmod o-w it\)" \
    env MG_ZONEINFO="$Z" "$MGCTL" validate "$D/safe/tz.yaml"
check "... once per zone, whatever the number of windows naming it, with its code" "1" - \
    sh -c 'MG_ZONEINFO="$2" "$0" validate --format json "$1" | python3 -c "import json,sys; d=json.load(sys.stdin)[\"diagnostics\"]; c=[x[\"code\"] for x in d if \"time zone file\" in x[\"message\"]]; assert c == [\"timezone-file-permissions\"], d" && exit 1' \
    "$MGCTL" "$D/safe/tz.yaml" "$Z"
chmod 664 "$Z/Europe/Berlin"
chmod 775 "$Z/Europe"
no_warning "a time zone file (and its directory) its group may write is no warning (the country database's rule)" \
    env MG_ZONEINFO="$Z" "$MGCTL" validate "$D/safe/tz.yaml"
chmod 644 "$Z/Europe/Berlin"
chmod 777 "$Z/Europe"
check "a world-writable directory above a time zone file is refused" "1" \
    "tz.yaml:2:11: error: directory '$Z/Europe' above the time zone file '$Z/Europe/Berlin' is writable by everyone and has no sticky bit" \
    env MG_ZONEINFO="$Z" "$MGCTL" validate "$D/safe/tz.yaml"
chmod 755 "$Z/Europe"
no_warning "the system's zoneinfo is no warning" env -u MG_ZONEINFO "$MGCTL" validate "$D/safe/tz.yaml"

# The Redis password of MediaGuardStore ...?password_file=PATH is a secret:
# mgctl revoke/uses --store warn as for a key file (group or others reading
# or writing it, a directory above it its group or everyone may write), with
# the code's wording and never the password. Nothing listens on port 1: the
# warnings come when the URL is read, then the store cannot be reached (2).
S="$TMP/store"
mkdir -p "$S/pw"
chmod 755 "$S" "$S/pw"
printf 'Sw0rdf1shPassw0rd\n' >"$S/pw/redis.pw"
chmod 640 "$S/pw/redis.pw"
surl="redis://127.0.0.1:1/0?timeout=200ms&password_file=$S/pw/redis.pw"
check "mgctl revoke --store: a password file its group may read is a warning" "2" \
    "mgctl revoke: warning: password_file '$S/pw/redis.pw' is readable by group or others: whoever can read it has the store's password \(chmod 600 it\)" \
    "$MGCTL" revoke --store "$surl" some-id
check "... and the password is never printed" "0" - \
    sh -c '"$0" revoke --store "$1" some-id 2>&1 | grep -q Sw0rdf1sh && exit 3; exit 0' "$MGCTL" "$surl"
chmod 602 "$S/pw/redis.pw"
check "mgctl uses --store: a password file others may write is a warning" "2" \
    "mgctl uses: warning: password_file '$S/pw/redis.pw' is writable by group or others: .*\(chmod go-w it\)" \
    "$MGCTL" uses --store "$surl" --kid k1 --id some-id show
chmod 600 "$S/pw/redis.pw"
chmod 775 "$S/pw"
check "a group-writable directory above the password file is a warning (as for a key file)" "2" \
    "mgctl revoke: warning: directory '$S/pw' above password_file '$S/pw/redis.pw' is writable by its group and has no sticky bit: .*\(chmod g-w '$S/pw', or \+t\)" \
    "$MGCTL" revoke --store "$surl" some-id
chmod 755 "$S/pw"
if [ "$(id -u)" -eq 0 ] && [ -n "$NOBODY" ] && [ "$NOBODY" != env ]; then
    chown nobody "$S/pw/redis.pw"
    check "a password file another user owns (mode 0600) is a warning (red team 21b)" "2" \
        "mgctl revoke: warning: password_file '$S/pw/redis.pw' is owned by user 'nobody' \\(uid [0-9]+\\), neither root nor the user reading it: that user can replace it" \
        "$MGCTL" revoke --store "$surl" some-id
    chown root "$S/pw/redis.pw"
fi
check "a password file only its owner may read, in safe directories: no warning" "2" - \
    sh -c '"$0" revoke --store "$1" some-id 2>&1 | tee /dev/stderr | grep -q warning && exit 3; exit 2' "$MGCTL" "$surl"

# ---------------------------------------------------------------- sign and verify against a policy
# review3: what the web server would refuse is refused when signing (exit 1,
# naming the limit and the policy); messages name the option, the byte, the
# line; exit status 1 for an invalid policy in every command.
L="$TMP/limits"
mkdir "$L"
echo "$good_key" >"$L/k1.key"
chmod 600 "$L/k1.key"
printf '%s\n' 'version: 1' 'download_param: dl' 'keys: [{id: k1, file: k1.key, sign: true}]' \
    'tokens: {max_ttl: 7d, revoked_ids: [leaked-1]}' 'rules:' \
    '  - {id: v, path: /v/, token: required}' \
    '  - {id: d, path: /d/, access: {anonymous: none, authenticated: view}}' >"$L/p.yaml"
check "sign --ttl over tokens.max_ttl is refused, naming max_ttl and the policy" "1" \
    "valid for 8d .*longer than tokens.max_ttl 7d of .*/p.yaml" \
    "$MGCTL" sign -p "$L/p.yaml" --ttl 8d /v/a.mp4
check "sign --expires end-of-month over max_ttl: the bucket's end counts" "1" \
    "valid for 28d23h59m59s .*tokens.max_ttl 7d" \
    "$MGCTL" sign -p "$L/p.yaml" --now 2026-11-02T00:00:00Z --expires end-of-month /v/a.mp4
check "sign --ttl equal to max_ttl is signed" "0" "^/v/a.mp4\?mg_exp=" \
    "$MGCTL" sign -p "$L/p.yaml" --ttl 7d /v/a.mp4
check "sign --id listed in tokens.revoked_ids is refused" "1" \
    "token id 'leaked-1' is revoked by .*token-revoked" \
    "$MGCTL" sign -p "$L/p.yaml" --ttl 1h --id leaked-1 /v/a.mp4
check "sign refuses a spelling of the download parameter the server refuses (DL)" "1" \
    "reserved" \
    "$MGCTL" sign -p "$L/p.yaml" --ttl 1h '/v/a.mp4?DL=1'
check "sign refuses dl[] (PHP reads it as dl)" "1" "reserved" \
    "$MGCTL" sign -p "$L/p.yaml" --ttl 1h '/v/a.mp4?dl%5B%5D=1'
check "sign --access download without the download parameter warns" "0" \
    "warning: /v/a.mp4: this download link .*dl=1.*sign '/v/a.mp4\?dl=1'" \
    "$MGCTL" sign -p "$L/p.yaml" --ttl 1h --access download /v/a.mp4
"$MGCTL" sign -p "$L/p.yaml" --ttl 1h --access download '/v/a.mp4?dl=1' \
    >/dev/null 2>"$TMP/dl-stderr"
"$MGCTL" sign -p "$L/p.yaml" --ttl 1h --access download '/v/a.mp4?x=1&dl=yes' \
    >/dev/null 2>>"$TMP/dl-stderr"
"$MGCTL" sign -p "$L/p.yaml" --ttl 1h --access download --prefix /v/ /v/b.mp4 \
    >/dev/null 2>>"$TMP/dl-stderr"
checks=$((checks + 1))
if [ -s "$TMP/dl-stderr" ]; then
    fails=$((fails + 1))
    echo "FAIL: download links with the parameter, or a prefix link, warned:"
    sed 's/^/    | /' "$TMP/dl-stderr"
else
    echo "ok: no download warning with ?dl=1 / dl=yes or for a prefix link"
fi
check "sign --expires before 1970 says why (it said 'an expiry is required')" "2" \
    "an expiry after 1970-01-01T00:00:00Z is required" \
    "$MGCTL" sign -p "$L/p.yaml" --expires 1969-12-31T23:59:59Z /v/a.mp4
check "sign --ttl 0 says why it is refused" "2" "--ttl 0: a link with no lifetime is expired" \
    "$MGCTL" sign -p "$L/p.yaml" --ttl 0 /v/a.mp4
check "sign --ip with host bits names the option and the network" "2" \
    "--ip '10.0.0.1/8': host bits .*did you mean 10.0.0.0/8" \
    "$MGCTL" sign -p "$L/p.yaml" --ttl 1h --ip 10.0.0.1/8 /v/a.mp4
check "sign --expires with a space for the T says so" "2" "with a 'T' between date and time" \
    "$MGCTL" sign -p "$L/p.yaml" --expires '2026-12-01 10:00:00Z' /v/a.mp4
"$MGCTL" keygen --id ed1 --alg ed25519 --out "$L" >/dev/null 2>&1
check "sign --key-file with a public key says signing needs the private key" "2" \
    "ed1.pub holds an Ed25519 public key; signing needs the private key" \
    "$MGCTL" sign --key-file "$L/ed1.pub" --key-id ed1 --ttl 1h /v/a.mp4
printf '# links for the course\n\n   \n/v/a b.mp4\n/v/c\\d.mp4\n/v/ok.mp4\n' >"$TMP/sign-lines"
STDIN="$TMP/sign-lines"
check_stdin "sign from stdin: comments and blanks skipped, the bad byte named with its offset" "1" \
    "^mgctl sign: line 4: space in the path at byte offset 4: write it as %20" \
    "$MGCTL" sign -p "$L/p.yaml" --ttl 1h
check_stdin "sign from stdin: a backslash is named" "1" \
    "^mgctl sign: line 5: backslash in the path at byte offset 4" \
    "$MGCTL" sign -p "$L/p.yaml" --ttl 1h
"$MGCTL" sign -p "$L/p.yaml" --ttl 1h <"$TMP/sign-lines" >"$TMP/sign-out" 2>"$TMP/sign-err"
checks=$((checks + 1))
if [ "$(wc -l <"$TMP/sign-out")" -eq 6 ] && [ "$(grep -c . "$TMP/sign-out")" -eq 1 ] &&
    grep -q '^/v/ok.mp4?mg_exp=' "$TMP/sign-out" && [ "$(wc -l <"$TMP/sign-err")" -eq 2 ]; then
    echo "ok: sign from stdin keeps one output line per input line, no message for comments"
else
    fails=$((fails + 1))
    echo "FAIL: sign from stdin output/messages:"
    sed 's/^/    stdout | /' "$TMP/sign-out"
    sed 's/^/    stderr | /' "$TMP/sign-err"
fi

check "repeated --ttl is a usage error, not last-wins" "2" "--ttl given twice \('1h', then '2h'\)" \
    "$MGCTL" sign -p "$L/p.yaml" --ttl 1h --ttl 2h /v/a.mp4
check "repeated --prefix is a usage error" "2" "--prefix given twice" \
    "$MGCTL" sign -p "$L/p.yaml" --ttl 1h --prefix /v/ --prefix /w/ /v/a.mp4
check "repeated explain --user is a usage error" "2" "-u/--user given twice \('anna', then 'paul'\)" \
    "$MGCTL" explain -p "$L/p.yaml" --user anna --user paul /d/a.jpg
check "explain -H and -e stay repeatable" "0" "^decision: " \
    "$MGCTL" explain -p "$L/p.yaml" -H 'A: 1' -H 'B: 2' -e X=1 -e Y=2 /d/a.jpg
check "validate -f without its value names -f/--format and its values" "2" \
    "-f/--format needs a value: text \(default\), json or github" "$MGCTL" validate -f
check "sign --format without its value" "2" "-f/--format needs a value: text \(default\) or json" \
    "$MGCTL" sign --format
check "explain --ip that is no address is a usage error" "2" \
    "--ip '999.1.1.1' is not an IPv4 or IPv6 address" \
    "$MGCTL" explain -p "$L/p.yaml" --ip 999.1.1.1 /d/a.jpg
check "explain --time with a space for the T says so" "2" "with a 'T' between date and time" \
    "$MGCTL" explain -p "$L/p.yaml" --time '2026-11-23 19:30:00Z' /d/a.jpg
check "verify --ip that is no address is a usage error" "2" "--ip '10.0.0' is not" \
    "$MGCTL" verify -p "$L/p.yaml" --ip 10.0.0 /v/a.mp4

# A signed-in user refused after Apache authenticated them (the request
# without the user is decided auth/login) gets a 401 unless
# AuthzSendForbiddenOnFailure On. A refusal decided before the user counts
# (hotlink, method, no rule) is the 403 either way: no note, JSON null.
printf '%s\n' 'version: 1' 'download_param: dl' 'rules:' \
    '  - {id: d, path: /d/, access: {anonymous: none, authenticated: view}}' \
    '  - {id: h, path: /h/, hotlink: {allowed_origins: ["https://www.example.com"]},' \
    '     access: {anonymous: none, authenticated: view}}' >"$L/authn.yaml"
check "explain: a download refused after authentication notes the 401" "0" \
    "^status: +403 \(401 without AuthzSendForbiddenOnFailure On\)" \
    "$MGCTL" explain -p "$L/authn.yaml" --user anna '/d/a.jpg?dl=1'
check "explain --format json: status stays numeric, the 401 beside it" "0" \
    '"reason":"download-not-allowed","status":403,"status_without_forbidden_on_failure":401,' \
    "$MGCTL" explain -p "$L/authn.yaml" --user anna -f json '/d/a.jpg?dl=1'
check "explain --format json: no 401 note for an anonymous deny" "0" \
    '"status":403,"status_without_forbidden_on_failure":null,' \
    "$MGCTL" explain -p "$L/authn.yaml" -X POST -f json /d/a.jpg
check "explain: a hotlink refusal of a signed-in user is a plain 403" "0" \
    '^status: +403$' \
    "$MGCTL" explain -p "$L/authn.yaml" --user anna -H 'Referer: https://evil.example/' /h/a.jpg
check "explain --format json: a hotlink refusal of a signed-in user has no 401" "0" \
    '"reason":"hotlink","status":403,"status_without_forbidden_on_failure":null,' \
    "$MGCTL" explain -p "$L/authn.yaml" --user anna -f json -H 'Referer: https://evil.example/' \
    /h/a.jpg
check "explain --format json: method-not-allowed for a signed-in user has no 401" "0" \
    '"reason":"method-not-allowed","status":403,"status_without_forbidden_on_failure":null,' \
    "$MGCTL" explain -p "$L/authn.yaml" --user anna -X POST -f json /d/a.jpg
check "explain --format json: no-rule for a signed-in user has no 401" "0" \
    '"reason":"no-rule","status":403,"status_without_forbidden_on_failure":null,' \
    "$MGCTL" explain -p "$L/authn.yaml" --user anna -f json /x/a.jpg

C=$("$MGCTL" sign -p "$L/p.yaml" --ttl 1h --cookie --prefix /v/ 2>/dev/null)
C=${C%%;*}
check "verify --cookie under another name: token-missing, naming both names" "1" \
    "detail: cookie name 'othername' is not the policy's tokens.cookie 'mg_token'" \
    "$MGCTL" verify -p "$L/p.yaml" --cookie "othername=${C#mg_token=}" /v/1.ts
check "verify --cookie NAME=VALUE with the policy's name is valid" "0" "^valid: yes" \
    "$MGCTL" verify -p "$L/p.yaml" --cookie "$C" /v/1.ts
check "verify --cookie with the bare value is valid" "0" "^valid: yes" \
    "$MGCTL" verify -p "$L/p.yaml" --cookie "${C#mg_token=}" /v/1.ts
U=$("$MGCTL" sign -p "$L/p.yaml" --ttl 1h /v/a.mp4 2>/dev/null)
check "verify -f json: an absent mg_uses is null like the other absent claims" "0" \
    '"id":null,"uses":null,' "$MGCTL" verify -p "$L/p.yaml" -f json "$U"

# An invalid (readable) policy is exit 1 in every command.
printf 'version: 1\nrules:\n  - {id: a, path: /, acess: {}}\n' >"$L/bad.yaml"
check "sign with an invalid policy: exit 1" "1" "unknown key 'acess'" \
    "$MGCTL" sign -p "$L/bad.yaml" --ttl 1h /a.jpg
check "verify with an invalid policy: exit 1" "1" "unknown key 'acess'" \
    "$MGCTL" verify -p "$L/bad.yaml" /a.jpg
check "explain with an invalid policy: exit 1" "1" "unknown key 'acess'" \
    "$MGCTL" explain -p "$L/bad.yaml" /a.jpg
check "sign with a missing policy: exit 2" "2" "no such file|cannot" \
    "$MGCTL" sign -p "$L/missing.yaml" --ttl 1h /a.jpg

# migrate-report: an unreadable input names the file and why (exit 2); a line
# it cannot read names file:line:column (exit 1), from a file or standard input.
check "migrate-report with a missing input file: exit 2 and why" "2" \
    "cannot read '.*/nope.log': No such file or directory" \
    "$MGCTL" migrate-report -p "$L/p.yaml" "$L/nope.log"
check "migrate-report with a directory as input: exit 2 and why" "2" \
    "cannot read '.*': Is a directory" "$MGCTL" migrate-report -p "$L/p.yaml" "$L"
printf '/a.jpg\n/b\000c.jpg\n' >"$L/nul.log"
check "migrate-report: a NUL byte at file:line:column" "1" "nul.log:2:3: error: a NUL byte" \
    "$MGCTL" migrate-report -p "$L/p.yaml" "$L/nul.log"
STDIN="$L/nul.log"
check_stdin "migrate-report: a NUL byte on stdin at <stdin>:line:column" "1" \
    "<stdin>:2:3: error: a NUL byte" "$MGCTL" migrate-report -p "$L/p.yaml"
awk 'BEGIN { printf "/"; for (i = 0; i < 17000; i++) printf "a"; print "" }' >"$L/long.log"
check "migrate-report: a line over 16 KiB at file:line:column" "1" \
    "long.log:1:16385: error: the line is longer than 16384 bytes" \
    "$MGCTL" migrate-report -p "$L/p.yaml" "$L/long.log"
# ... and such a line is never held whole: a 64 MiB line (a log without LF)
# is refused with the memory of a short one (getline() read it all first:
# 262 MiB for 256 MiB). The same bound for mgctl sign's standard input, at
# 64 KiB. The peak RSS of the run may exceed that of a run on one short line
# by at most 24 MiB (a baseline of its own, so sanitizer builds pass too).
cat >"$TMP/rss.py" <<'PY'
import resource, subprocess, sys
def peak(size):
    """The child's peak RSS (MiB) reading '/' + size bytes + LF + a short line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    p = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        p.stdin.write(b"/")
        for _ in range(size >> 20):
            p.stdin.write(b"a" * (1 << 20))
        p.stdin.write(b"a" * (size & ((1 << 20) - 1)) + b"\n/b.jpg\n")
        p.stdin.close()
    except BrokenPipeError:
        pass
    err = p.stderr.read().decode(errors="replace")
    rc = p.wait()
    # ru_maxrss of children is the largest of any child so far: a first
    # child smaller than the second shows as the second's
    return max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) // 1024, rc, err
base, _, _ = peak(10)
rss, rc, err = peak(64 << 20)
sys.stderr.write(err + "peak RSS %d MiB, %d MiB on a short line (allowed: +%s)\n"
                 % (rss, base, sys.argv[1]))
sys.exit(3 if rss > base + int(sys.argv[1]) else rc)
PY
check "migrate-report: a 64 MiB line is refused without being read into memory" "1" \
    "<stdin>:1:16385: error: the line is longer than 16384 bytes" \
    python3 "$TMP/rss.py" 24 "$MGCTL" migrate-report -p "$L/p.yaml" -
check "mgctl sign: a 64 MiB line on standard input is refused the same way" "1" \
    "mgctl sign: line 1: the line is longer than 65536 bytes \\(67108865\\)" \
    python3 "$TMP/rss.py" 24 "$MGCTL" sign -p "$L/p.yaml" --ttl 1h

# mgctl's messages on stderr echo arguments, URLs and paths as one line:
# control bytes, an ESC sequence (which would recolour, retitle or clear the
# terminal, or forge a '::error' line in a CI log after a newline) are
# written as \xNN, \n. The checks fail on any raw control byte (exit 3).
E="$TMP/esc"
mkdir -p "$E"
chmod 755 "$E"
echo "$good_key" >"$E/k1.key"
chmod 600 "$E/k1.key"
no_raw_control() { # NAME STATUS PATTERN CMD...: stderr escaped, no raw control byte
    n=$1 st=$2 pat=$3
    shift 3
    check "$n" "$st" "$pat" sh -c 'out=$("$@" 2>&1 >/dev/null); rc=$?; printf "%s\n" "$out" >&2
        printf "%s\n" "$out" | LC_ALL=C grep -q "[[:cntrl:]]" && exit 3; exit $rc' sh "$@"
}
ESC=$(printf '\033')
BEL=$(printf '\007')
NL='
'
no_raw_control "mgctl sign: a bad --ttl with an ESC sequence is escaped" "2" \
    "mgctl sign: --ttl '1h\\\\x1B\\[31mred\\\\x1B\\[0m' is not a duration" \
    "$MGCTL" sign --key-file "$E/k1.key" --key-id k1 --ttl "1h${ESC}[31mred${ESC}[0m" /a.jpg
no_raw_control "mgctl sign: a bad --now with a newline and a forged CI line stays one line" "2" \
    "mgctl sign: --now 'x\\\\n::error file=p.yaml::forged' is not" \
    "$MGCTL" sign --key-file "$E/k1.key" --key-id k1 --ttl 1h --now "x${NL}::error file=p.yaml::forged" /a.jpg
no_raw_control "mgctl sign: a URL operand with BEL and an OSC title sequence is escaped" "1" \
    "mgctl sign: /a\\\\x07b\\\\x1B\\]0;pwned\\\\x07.jpg: " \
    "$MGCTL" sign --key-file "$E/k1.key" --key-id k1 --ttl 1h "/a${BEL}b${ESC}]0;pwned${BEL}.jpg"
no_raw_control "mgctl sign: an unknown option made of control bytes is escaped" "2" \
    "mgctl sign: .*\\\\x1B\\[2J" \
    "$MGCTL" sign --key-file "$E/k1.key" --key-id k1 --ttl 1h "--${ESC}[2J" /a.jpg
no_raw_control "mgctl sign --key-file: a path with control bytes is escaped" "2" \
    "mgctl sign: .*k\\\\x1B\\[1mey" \
    "$MGCTL" sign --key-file "$E/k${ESC}[1mey" --key-id k1 --ttl 1h /a.jpg

no_raw_control "mgctl: an unknown command with an ESC sequence is escaped" "2" \
    "mgctl: unknown command 'x\\\\x1B\\[2Jy'" "$MGCTL" "x${ESC}[2Jy"
# migrate-report's text output echoes the log line's URL: a CR there would
# redraw the line on a terminal ("invalid" shown as "valid"), an ESC
# sequence clear it. Both are escaped on stdout too (JSON escapes them itself).
printf '/media/a\033[2Jb.jpg\n/x\rvalid    v1 k1 expires never   /x\n' >"$E/ctl.log"
check "migrate-report: a CR and an ESC sequence in a log line are escaped on stdout" "1" \
    "^invalid  [a-z-]+ .*/x\\\\rvalid    v1" \
    sh -c '"$@" 2>/dev/null | tee /dev/stderr | LC_ALL=C grep -q "[[:cntrl:]]" && exit 3; exit 1' \
    sh "$MGCTL" migrate-report -p "$L/p.yaml" "$E/ctl.log"

# keygen prints the key's path as written to, so the entry works next to --out's parent.
(cd "$L" && "$MGCTL_ABS" keygen --id k9 --out keys/ >"$TMP/kg-out" 2>/dev/null)
check "keygen --out keys/ prints file: keys/k9.key" "0" "^    file: keys/k9.key$" cat "$TMP/kg-out"
(cd "$L" && "$MGCTL_ABS" keygen --id e9 --alg ed25519 --out keys >"$TMP/kg-out" 2>/dev/null)
check "keygen ed25519 names both files with --out" "0" \
    "file: keys/e9.pub +# web servers; signing hosts use keys/e9.key" cat "$TMP/kg-out"

# ---------------------------------------------------------------- red team 26c: what an admin writes
# Policies that loaded and granted what their author did not mean are refused, at file:line:column with the
# fix as a hint; what may be meant stays a warning (exit 0).
R="$TMP/rt26c"
mkdir -p "$R"
printf 'version: 1\ncountry: {from: {header: CF-IPCountry}}\ntrusted_proxies: [10.0.0.5]\nrules:\n  - {id: a, path: /, country: {deny: [KP, UK]}, access: {anonymous: view}}\n' >"$R/uk.yaml"
check "country.deny [UK] is refused: no source sends it, the United Kingdom is GB" "1" \
    "uk.yaml:5:43: error: 'UK' is not an assigned ISO 3166-1 country code: no country source sends it, so country\.deny would never match it \(the United Kingdom is GB\)" \
    "$MGCTL" validate "$R/uk.yaml"
printf 'version: 1\ntime_windows:\n  weekend: {days: [sat, sun], hours: []}\nrules:\n  - {id: a, path: /, time: weekend, access: {anonymous: view}}\n' >"$R/hours.yaml"
check "hours: [] is refused: it read as all day" "1" \
    "hours.yaml:3:38: error: hours must list at least one entry: an empty list would mean all day, as when 'hours' is left out \(leave 'hours' out for all day, or list ranges, e.g\. \[\"09:00-17:00\"\]\)" \
    "$MGCTL" validate "$R/hours.yaml"
printf 'version: 1\ntrusted_proxies: [0.0.0.0/0]\nroles: [admin]\nidentity:\n  roles_from: [{header: X-Roles}]\nrules:\n  - {id: a, path: /, access: {admin: view}}\n' >"$R/trust.yaml"
check "trusted_proxies 0.0.0.0/0 with a roles header is refused: every client chose its roles" "1" \
    "trust.yaml:2:19: error: trusted_proxies entry '0\.0\.0\.0/0' trusts every IPv4 client, so any of them can send header 'X-Roles' and choose its own roles \(list only your proxies' addresses, e\.g\. 10\.0\.0\.5/32\)" \
    "$MGCTL" validate "$R/trust.yaml"
printf 'version: 1\ndefault: allow\nrules:\n  - {id: a, path: "/*/private/", access: {anonymous: none}}\n' >"$R/glob.yaml"
check "a glob ending in '/' is refused: it owned the directory, not its files" "1" \
    "glob.yaml:4:19: error: glob pattern '/\*/private/' ends in '/', so it matches only the directory itself, not the files in it \(a glob matches the whole path\) \(write '/\*/private/\*\*' for everything below it\)" \
    "$MGCTL" validate "$R/glob.yaml"
printf 'version: 1\nrules:\n  - {id: a, path: "/v/*.{mp4,mov}", ip: {deny: [0.0.0.0/0]}, access: {anonymous: view}}\n  - {id: b, path: "/p\\u2215q/", access: {anonymous: view}}\n' >"$R/warn.yaml"
check "literal {a,b}, a look-alike slash and a deny of IPv4 only: warnings, exit 0" "0" \
    "warn.yaml:3:19: warning: in path pattern '/v/\*\.\{mp4,mov\}', '\{' is an ordinary character.*warn.yaml:3:48: warning: ip\.deny holds 0\.0\.0\.0/0, every IPv4 client, and no IPv6 network.*warn.yaml:4:19: warning: path pattern '/p.*q/' holds U\+2215 DIVISION SLASH" \
    sh -c '"$@" 2>&1 | tr "\n" " "' sh "$MGCTL" validate "$R/warn.yaml"

# 20,000 errors: the list stops at MG_DIAG_SHOW_MAX (100) with one
# "... and N more" line, in every format (issue 14: 200,000 errors printed 20 MB).
{ echo 'version: 1'; i=0; while [ $i -lt 20000 ]; do echo "unknown$i: 1"; i=$((i + 1)); done; } \
    >"$TMP/many.yaml"
check "20,000 errors: the first 100 and a count" "1" \
    "many.yaml: \.\.\. and 199[0-9][0-9] more diagnostics \(the first 100 are shown\)" \
    "$MGCTL" validate "$TMP/many.yaml"
"$MGCTL" validate "$TMP/many.yaml" >"$TMP/many.out" 2>&1
check "20,000 errors: at most 101 lines of text" "0" - \
    test "$(wc -l <"$TMP/many.out")" -le 101
"$MGCTL" validate --format json "$TMP/many.yaml" >"$TMP/many.json" 2>&1
check "20,000 errors: json lists 100, counts all" "0" - \
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["diagnostics"]) == 100 and d["errors"] >= 20000, (len(d["diagnostics"]), d["errors"])' "$TMP/many.json"
"$MGCTL" validate --format github "$TMP/many.yaml" >"$TMP/many.gh" 2>&1
check "20,000 errors: github annotations stop at 100 plus a notice" "0" - \
    test "$(grep -c '^::' "$TMP/many.gh")" -eq 101

# ---------------------------------------------------------------- the process environment: TZ, LANG, MG_ZONEINFO
# Apache (envvars) and a shell running mgctl rarely share TZ or LANG: neither
# may move a time window, a bucket's expiry or a decision. Zones come from
# the TZif files only (lib/mg_tz.c), case and classes are ASCII (mg_ascii.h).
printf '%s\n' 'version: 1' 'timezone: Europe/Berlin' 'time_windows:' '  office: {hours: ["09:00-17:00"]}' \
    'rules:' '  - {id: office, path: /media/, time: office, access: {anonymous: view}}' >"$TMP/tw.yaml"
"$MGCTL" keygen --id tz1 --out "$TMP/tzkeys" >/dev/null 2>&1
env_run() { # the explain and sign outputs under one environment
    env "$@" "$MGCTL" explain --policy "$TMP/tw.yaml" --time 2026-03-04T07:30:00Z /media/A.JPG 2>&1
    env "$@" "$MGCTL" sign --key-file "$TMP/tzkeys/tz1.key" --key-id tz1 --expires end-of-day \
        --tz Europe/Berlin --now 2026-03-04T22:30:00Z /a.jpg 2>&1
}
env_run TZ=UTC LC_ALL=C >"$TMP/env-c"
check "explain and sign: the same under TZ=Pacific/Kiritimati LC_ALL=C.UTF-8 LANG=tr_TR.UTF-8" "0" - \
    sh -c 'grep -q "^reason:   outside-time-window$" "$1" && grep -q "mg_exp=1772665199&" "$1" || exit 3
           cmp "$1" "$2"' sh "$TMP/env-c" "$(env_run TZ=Pacific/Kiritimati LC_ALL=C.UTF-8 LANG=tr_TR.UTF-8 >"$TMP/env-x"; echo "$TMP/env-x")"
check "a missing zoneinfo directory is named, not an unknown zone" "1" \
    "tw.yaml:2:11: error: unknown time zone 'Europe/Berlin': there is no time zone database at $TMP/no-zoneinfo \(\\\$MG_ZONEINFO\)$" \
    env MG_ZONEINFO="$TMP/no-zoneinfo" "$MGCTL" validate "$TMP/tw.yaml"

# sign's output on a full disk: the reason, once (main said it a second time), exit 2
check "sign of 100,000 lines to /dev/full: exit 2, the reason, said once" "2" \
    "^mgctl sign: error writing to standard output: No space left on device$" \
    sh -c 'yes /a.jpg | head -n 100000 | "$0" sign --key-file "$1" --key-id tz1 --ttl 1h >/dev/full 2>"$2"; rc=$?
           cat "$2" >&2; [ "$(wc -l <"$2")" -eq 1 ] || exit 3; exit $rc' "$MGCTL" "$TMP/tzkeys/tz1.key" "$TMP/full.err"

# keygen killed mid-write (SIGXFSZ under ulimit -f 0; SIGINT or SIGKILL alike)
# left an empty ID.key that the next keygen refused to replace and no policy
# loads: now the key appears whole (a temporary file, then link) or not at all.
check "keygen killed mid-write leaves no key file; the next keygen writes it" "0" "wrote [^ ]*/kill/k1.key" \
    sh -c '(ulimit -f 0 && exec "$0" keygen --id k1 --out "$1") >/dev/null 2>&1; [ -e "$1/k1.key" ] && exit 3
           "$0" keygen --id k1 --out "$1" >/dev/null && [ "$(wc -c <"$1/k1.key")" -gt 40 ]' "$MGCTL" "$TMP/kill"

# Content teams' files: CRLF line ends (Windows) and a last line without LF sign as the same lines with LF.
check "sign: CRLF lines and a last line without LF give the links of the LF lines" "0" - \
    sh -c 'printf "/a.jpg\r\n/b.jpg\r\n/c.jpg" | "$0" sign --key-file "$1" --key-id tz1 --ttl 1h --now 2026-01-01T00:00:00Z >"$2.crlf" &&
           printf "/a.jpg\n/b.jpg\n/c.jpg\n" | "$0" sign --key-file "$1" --key-id tz1 --ttl 1h --now 2026-01-01T00:00:00Z >"$2.lf" &&
           [ "$(wc -l <"$2.lf")" -eq 3 ] && cmp "$2.crlf" "$2.lf"' "$MGCTL" "$TMP/tzkeys/tz1.key" "$TMP/eol"

# ---------------------------------------------------------------- compile -o OUT that is not a regular file
# compile -o wrote a temporary file and renamed it over OUT whatever OUT was:
# as root, -o /dev/full (or /dev/null) replaced the device node with a
# regular file for the whole machine, and said nothing. Modelled in $TMP
# (never /dev: a regression must not break the machine): a FIFO and, as
# root, a copy of /dev/full's device.
mkfifo "$TMP/out.fifo"
check "compile -o a FIFO writes into it, the FIFO stays" "0" - \
    sh -c '(cat "$2" >"$2.got" &); "$0" compile -o "$2" "$1" || exit 2; sleep 0.2
           [ -p "$2" ] && head -n 1 "$2.got" | grep -q "^# mod_media_guard compiled policy v1 sha256:"' \
    "$MGCTL" "$MG_SRCDIR/policies/photo-site.yaml" "$TMP/out.fifo"
if [ "$(id -u)" -eq 0 ] && mknod -m 666 "$TMP/full" c 1 7 2>/dev/null; then
    check "compile -o a full device: exit 2, the reason, the device stays a device" "2" \
        "^mgctl compile: cannot write [^ ]*/full: No space left on device$" \
        sh -c '"$0" compile -o "$2" "$1"; rc=$?; [ -c "$2" ] || exit 3; exit $rc' \
        "$MGCTL" "$MG_SRCDIR/policies/photo-site.yaml" "$TMP/full"
else
    echo "skip: compile -o a device (needs root for mknod)"
fi
mkdir "$TMP/versions" && echo old >"$TMP/versions/p.yaml" && ln -s versions/p.yaml "$TMP/current.yaml"
check "compile -o a link to a file replaces the file, the link stays" "0" - \
    sh -c '"$0" compile -o "$2/current.yaml" "$1" && [ -L "$2/current.yaml" ] &&
           head -n 1 "$2/versions/p.yaml" | grep -q "^# mod_media_guard compiled policy v1"' \
    "$MGCTL" "$MG_SRCDIR/policies/photo-site.yaml" "$TMP"
check "compile -o a directory: exit 2, said" "2" "^mgctl compile: cannot write [^ ]*/versions: it is a directory$" \
    "$MGCTL" compile -o "$TMP/versions" "$MG_SRCDIR/policies/photo-site.yaml"
check "compile -o under umask 0077: the policy is mode 0644 (set on the descriptor)" "0" - \
    sh -c 'umask 0077; rm -f "$2"; "$0" compile -o "$2" "$1" && [ "$(stat -c %a "$2")" = 644 ]' \
    "$MGCTL" "$MG_SRCDIR/policies/photo-site.yaml" "$TMP/umask.yaml"
check "compile -o /dev/stdout (a link to a link to a pipe) writes into the pipe" "0" - \
    sh -c '"$0" compile -o /dev/stdout "$1" | head -n 1 | grep -q "^# mod_media_guard compiled policy v1"' \
    "$MGCTL" "$MG_SRCDIR/policies/photo-site.yaml"
# Following every link made another user's link a way to make root replace
# (or, pointing at a device, write into) any file: a link owned by uid 65534
# in a directory they may write, pointing at a file of root's. Also behind a
# link of root's (each link of the chain counts).
if [ "$(id -u)" -eq 0 ]; then
    mkdir "$TMP/shared" && echo "root's" >"$TMP/victim" && ln -s ../victim "$TMP/shared/p.yaml" &&
        chown -h 65534 "$TMP/shared/p.yaml" && ln -s shared/p.yaml "$TMP/via-root.yaml"
    for o in shared/p.yaml via-root.yaml; do
        check "compile -o $o (uid 65534's link to root's file): exit 2, said, the file and link untouched" "2" \
            "^mgctl compile: cannot write [^ ]*/$o: [^ ]*/shared/p.yaml is a symbolic link owned by uid 65534, neither root nor you" \
            sh -c '"$0" compile -o "$2/$3" "$1"; rc=$?; [ "$(cat "$2/victim")" = "root'"'"'s" ] && [ -L "$2/shared/p.yaml" ] || exit 3
                   exit $rc' "$MGCTL" "$MG_SRCDIR/policies/photo-site.yaml" "$TMP" "$o"
    done
else
    echo "skip: compile -o another user's link (needs root for chown -h)"
fi

# ---------------------------------------------------------------- resource limits
# A pool allocation that fails handed NULL on (a segfault under ulimit -v
# 60000 for a 100,000-rule compile): mgctl now says "out of memory" and exits
# 2. A sanitizer build reserves terabytes of address space and cannot start
# under a small ulimit -v: skipped there (the probe below).
if sh -c 'ulimit -v 200000 && exec "$0" --version' "$MGCTL" >/dev/null 2>&1; then
    awk 'BEGIN { print "version: 1"; print "rules:"; for (i = 0; i < 30000; i++)
        printf "  - {id: r%d, path: /m%d/, access: {anonymous: view}}\n", i, i }' >"$TMP/big.yaml"
    # From too little to start with to enough: every run ends 0 with the
    # whole file, or 2 with the message and no file (the temporary one too).
    check "compile of a 30,000-rule policy under ulimit -v 20-56 MB: out of memory said, never a crash" "2" \
        "^mgctl( compile: [^ ]*big.yaml:)? out of memory( writing the compiled form)? \(see ulimit -v\)$" \
        sh -c 'OUT=$2; oom=0; for v in 20000 30000 40000 48000 56000; do
                 rm -f "$OUT"; (ulimit -v "$v" && exec "$0" compile -o "$OUT" "$1") 2>"$OUT.err"; rc=$?
                 case $rc in
                 0) grep -q "^  - id: r29999$" "$OUT" || exit 3 ;;
                 2) oom=1; ls "$OUT"* | grep -qv "err$" && exit 3; grep -q "out of memory" "$OUT.err" || exit 3
                    cat "$OUT.err" >&2 ;;
                 *) echo "ulimit -v $v: exit $rc" >&2; exit 3 ;;
                 esac
               done; [ $oom = 1 ] && exit 2; exit 0' \
        "$MGCTL" "$TMP/big.yaml" "$TMP/big.out"
    check "validate of it under ulimit -v 30000: the same" "2" "^mgctl: out of memory \(see ulimit -v\)$" \
        sh -c 'ulimit -v 30000 && exec "$0" validate "$1"' "$MGCTL" "$TMP/big.yaml"
else
    echo "skip: ulimit -v cases (this mgctl cannot start under ulimit -v 200000: a sanitizer build)"
fi

echo
echo "bad-input.sh: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
