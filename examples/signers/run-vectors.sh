#!/bin/sh
# run-vectors.sh — every signer against the token-format-v1 test vectors and
# against each other:
#   1. the C signer (mgctl sign, $MGCTL) reproduces every vector of
#      vectors.json, and mgctl verify accepts every vector link;
#   2. sign.py, sign.js and sign.php reproduce every vector;
#   3. all four sign a list of awkward URLs (encodings, dot segments, tr:,
#      non-ASCII, reserved characters) and must agree byte for byte;
#   4. all four read hostile lines on stdin (NUL byte, BOM, invalid UTF-8,
#      raw ';' in the query, CR) and sign or refuse each one alike;
#   5. all four sign 2000 generated URLs (seed MG_RANDOM_SEED, fixed by
#      default) and must agree on every link and on every refusal.
# Run by `make check` (exit 77 = skipped when an interpreter is missing).
set -u

here=$(cd "$(dirname "$0")" && pwd)
vectors="$here/vectors.json"
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
for tool in "$PYTHON" node php; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed (the quickstart installs python3, nodejs and php-cli)"
        exit 77
    fi
done
if [ -z "${MGCTL:-}" ] || [ ! -x "$MGCTL" ]; then
    echo "SKIP: \$MGCTL does not name the built mgctl (make check sets it)"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mg-vectors.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0

echo "== C signer (mgctl sign / mgctl verify)"
"$PYTHON" - "$MGCTL" "$vectors" "$tmp" <<'EOF' || fail=1
import ipaddress, json, os, subprocess, sys
mgctl, vectors, tmp = sys.argv[1:4]
data = json.load(open(vectors, encoding="utf-8"))
for kid, k in data["keys"].items():
    for suffix, text in (("key", k["key"]), ("pub", k.get("public"))):
        if text is not None:
            path = os.path.join(tmp, kid + "." + suffix)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write(text)
failed = 0
for v in data["vectors"]:
    key = os.path.join(tmp, v["key"] + ".key")
    args = [mgctl, "sign", "--key-file", key, "--key-id", v["key"], "--expires", str(v["expires"]),
            "--now", "2026-06-01T00:00:00Z", "--format", "json"]
    for opt, field in (("--not-before", "not_before"), ("--ip", "ip"), ("--prefix", "prefix"),
                       ("--access", "access"), ("--id", "id"), ("--uses", "uses")):
        if field in v:
            args += [opt, str(v[field])]
    if "uses" in v and "not_before" not in v:
        args += ["--not-before", "none"]  # a vector without mg_nbf (sign adds one by default)
    if v.get("cookie"):
        got = json.loads(subprocess.run(args + ["--cookie"], capture_output=True, check=True,
                                        text=True).stdout)["value"]
    else:
        got = json.loads(subprocess.run(args + [v["url"]], capture_output=True, check=True,
                                        text=True).stdout)["url"]
    ok = got == v["expected"]
    if ok and not v.get("cookie"):
        # the server side: verify with the public half where there is one
        pub = os.path.join(tmp, v["key"] + ".pub")
        vargs = [mgctl, "verify", "--key-file", pub if os.path.exists(pub) else key,
                 "--key-id", v["key"], "--now", "2026-06-01T00:00:00Z"]
        if "ip" in v:
            net = ipaddress.ip_network(v["ip"])
            vargs += ["--ip", str(net[1] if net.num_addresses > 1 else net[0])]
        r = subprocess.run(vargs + [v["expected"]], capture_output=True, text=True)
        if r.returncode != 0:
            print("FAIL  %s: mgctl verify refused it:\n%s" % (v["name"], r.stdout))
            failed += 1
            continue
    if ok:
        print("ok    " + v["name"])
    else:
        failed += 1
        print("FAIL  %s:\n  got      %s\n  expected %s" % (v["name"], got, v["expected"]))
print("mgctl: %d passed, %d failed" % (len(data["vectors"]) - failed, failed))
sys.exit(1 if failed else 0)
EOF

echo "== Python"
(cd "$here" && "$PYTHON" sign.py --vectors "$vectors") || fail=1
echo "== Node.js"
(cd "$here" && node sign.js --vectors "$vectors") || fail=1
echo "== PHP"
(cd "$here" && php sign.php --vectors "$vectors") || fail=1

echo "== all four signers agree on awkward URLs"
printf 'mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n' >"$tmp/agree.key"
chmod 600 "$tmp/agree.key"
cat >"$tmp/urls" <<'EOF'
/a/b/../c/./d.jpg
/x///y.jpg
/%E2%82%AC/x.jpg
/a+b/c%2Bd.jpg?x=a+b&y=%2B&z=%20
/tr%3Aw-1/a.jpg
/a/b.jpg?tr=w-2,h-1:rt-90&z=&z=1
/a/B.JPG?%C3%A9=%C3%A8&%C3%A9=a
/dir/
/dir/sub/.
/dir/sub/..
/a;x/b.jpg;y=1
/a/100%25.jpg
/~user/%7Efile.jpg
/a/b.jpg?q=%25&r=%2541
/a/b.jpg?&&a=1&&
/a/b.jpg?a==b&c
/a/b.jpg?name=a%3Db%26c&path=/x/y:z,w@h
/日本/テスト.png?キー=値
/a/'quote'(1)!*$.jpg
/a/tr:oi-logo.png,w-10,h-20:q-80/b.webp?v=3
https://cdn.example.com/a/b.mp4?x=1
http://[2001:db8::1]:8080/a.jpg
/a/%EF%BB%BFb.jpg
/a/%EF%BB%BF/c.jpg
/a.jpg?x=%EF%BB%BFy&%EF%BB%BF=1
/a.jpg?x=%3B&y=a%3Bb
EOF
exp=1798761599
signer_args="--key-file $tmp/agree.key --key-id agree --expires $exp"
"$MGCTL" sign --key-file "$tmp/agree.key" --key-id agree --expires "$exp" <"$tmp/urls" >"$tmp/c.out" || fail=1
# shellcheck disable=SC2046
set -- $(cat "$tmp/urls")
(cd "$here" && "$PYTHON" sign.py --key-file "$tmp/agree.key" --key-id agree --expires "$exp" "$@") >"$tmp/py.out" || fail=1
(cd "$here" && node sign.js --key-file "$tmp/agree.key" --key-id agree --expires "$exp" "$@") >"$tmp/js.out" || fail=1
(cd "$here" && php sign.php --key-file "$tmp/agree.key" --key-id agree --expires "$exp" "$@") >"$tmp/php.out" || fail=1
for lang in py js php; do
    if cmp -s "$tmp/c.out" "$tmp/$lang.out"; then
        echo "ok    mgctl = $lang ($(wc -l <"$tmp/c.out") URLs)"
    else
        echo "FAIL  mgctl and $lang differ:"
        diff "$tmp/c.out" "$tmp/$lang.out"
        fail=1
    fi
done

echo "== all four signers refuse the same hostile lines on stdin"
# One line each; expected: s = signed, r = refused (an empty output line).
#   NUL byte (mgctl once signed the part before it), BOM (encoded and raw; sign.js
#   once dropped it), invalid UTF-8 in path and query (sign.py once died, sign.js
#   signed U+FFFD), raw ';' in the query (an origin splitting on ';' sees
#   another query), a CR inside a line, CRs before the LF, raw é and emoji.
printf '/v/c\000d.jpg\n/a/%%EF%%BB%%BFb.jpg\n/a/\357\273\277b.jpg\n/a.jpg?x=\357\273\277y\n' >"$tmp/hostile"
printf '/\377.jpg\n/a.jpg?x=\377y\n/\351t\351.jpg\n/a.jpg?a=1;b=2\n/a.jpg?x=;tr=w-1\n' >>"$tmp/hostile"
printf '/a\rb.jpg\n/crlf.jpg\r\r\n/\303\251t\303\251.jpg\n/\360\237\230\200.jpg\n/ok.jpg?a=%%3B\n' >>"$tmp/hostile"
expect="rsssrrrrrrssss"
for lang in c py js php; do
    case $lang in
    c) cmd="$MGCTL sign" ;;
    py) cmd="$PYTHON $here/sign.py" ;;
    js) cmd="node $here/sign.js" ;;
    php) cmd="php $here/sign.php" ;;
    esac
    # shellcheck disable=SC2086
    $cmd $signer_args <"$tmp/hostile" >"$tmp/h$lang.out" 2>"$tmp/h$lang.err"
    rc=$?
    got=$(sed 's/^..*$/s/; s/^$/r/' "$tmp/h$lang.out" | tr -d '\n')
    if [ "$rc" -ne 1 ] || [ "$got" != "$expect" ]; then
        echo "FAIL  $lang on hostile lines: exit $rc (want 1), signed/refused $got (want $expect)"
        cat "$tmp/h$lang.err"
        fail=1
    elif [ "$lang" != c ] && ! cmp -s "$tmp/hc.out" "$tmp/h$lang.out"; then
        echo "FAIL  mgctl and $lang sign hostile lines differently:"
        diff "$tmp/hc.out" "$tmp/h$lang.out"
        fail=1
    else
        echo "ok    $lang: $(printf %s "$got" | tr -cd r | wc -c) of ${#expect} hostile lines refused, exit 1"
    fi
done

echo "== all four signers agree on 2000 generated URLs (signed or refused alike)"
"$PYTHON" - "$tmp/random" <<'PYEOF'
import os, random, sys
# Deterministic: the same URLs on every run. Atoms that canonicalisation
# accepts, refuses or rewrites (encodings, dot segments, parameters, tr:).
rnd = random.Random(int(os.environ.get("MG_RANDOM_SEED", "20261231")))
atoms = ["a", "b", "Z", "0", "-", ".", "..", "_", "~", "%20", "%2F", "%2e", "%2E%2E", "%25",
         "%2541", "%41", "%C3%A9", "\u00e9", "\u65e5", "%E6%97%A5", "+", "%2B", ";x=1", ";", "!",
         "$", "'", "(", ")", "*", ",", "=", ":", "@", "&", "tr:w-1", "tr:h-2,w-3", "tr:W-1",
         "TR:w-1", "%3A", "tr%3Aw-5", "%00", "%0a", "%ZZ", "%", "%C0%AE", "a.", "x.jpg", "y.png",
         "//", "/", ";%ZZ", "%3B", "%5C", "%ED%A0%80", "%F0%9F%98%80"]
qatoms = ["a=1", "b=", "c", "tr=w-1,h-2", "tr=w-1", "TR=1", "x=%20", "y=a+b", "z=%2B",
          "%C3%A9=%C3%A8", "=x", "&", "&&", "q=%25", "r=%2541", "s=/:,@", "t=%00", "u=\u00e9",
          "v=%ZZ", "w=a%3Db", "tr=", "tr=w-1:h-2", "download=1"]
refused = {"%2F", "%00", "%0a", "%ZZ", "%", "%C0%AE", "a.", "TR:w-1", "tr:W-1", "%3B", "%5C",
           "%ED%A0%80", ";%ZZ", "=x", "t=%00", "v=%ZZ", "TR=1", "tr="}
friendly = [a for a in atoms if a not in refused]
qfriendly = [a for a in qatoms if a not in refused]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for _ in range(2000):
        nice = rnd.random() < 0.6
        pool, qpool = (friendly, qfriendly) if nice else (atoms, qatoms)
        segs = ["".join(rnd.choice(pool) for _ in range(rnd.randint(1, 3)))
                for _ in range(rnd.randint(1, 4))]
        url = "/" + "/".join(segs)
        if rnd.random() < 0.5:
            url += "?" + "&".join(rnd.choice(qpool) for _ in range(rnd.randint(1, 4)))
        f.write(url + "\n")
PYEOF
# shellcheck disable=SC2086
"$MGCTL" sign $signer_args <"$tmp/random" >"$tmp/rc.out" 2>/dev/null
# shellcheck disable=SC2086
(cd "$here" && "$PYTHON" sign.py $signer_args) <"$tmp/random" >"$tmp/rpy.out" 2>/dev/null
# shellcheck disable=SC2086
(cd "$here" && node sign.js $signer_args) <"$tmp/random" >"$tmp/rjs.out" 2>/dev/null
# shellcheck disable=SC2086
(cd "$here" && php sign.php $signer_args) <"$tmp/random" >"$tmp/rphp.out" 2>/dev/null
signed=$(grep -c . "$tmp/rc.out")
for lang in py js php; do
    if [ "$(wc -l <"$tmp/r$lang.out")" -eq 2000 ] && cmp -s "$tmp/rc.out" "$tmp/r$lang.out"; then
        echo "ok    mgctl = $lang (2000 URLs: $signed signed, the others refused by all four)"
    else
        echo "FAIL  mgctl and $lang differ (< mgctl, > $lang; an empty line = refused):"
        diff "$tmp/rc.out" "$tmp/r$lang.out" | head -20
        fail=1
    fi
done

[ "$fail" -eq 0 ] && echo "PASS: every signer reproduces every vector" || echo "FAIL"
exit "$fail"
