#!/bin/sh
# run-format-vectors.sh — the foreign link formats (docs/token-formats.md):
# for every vector of format-vectors.json, the C signer
# (mgctl sign --token-format), the independent Python signer
# (sign_formats.py) and the C verifier (mgctl verify) must agree:
#   1. mgctl sign reproduces the expected link byte for byte;
#   2. sign_formats.py reproduces it too;
#      (ECDSA vectors, "verify_only": signatures differ each time, so both
#      check the signature instead: mgctl verify the one mgctl sign made);
#   3. mgctl verify accepts it (at a time before its expiry, from the bound
#      address) and refuses it with one byte of the path changed (a prefix
#      or ACL token: with its path moved outside; a vector's own "tampered"
#      link and "tampered_reason" when it says so).
# A "cookie" vector is a signed cookie (mgctl sign --cookie, verified with
# mgctl verify --cookie for the vector's url); a "verify_only" vector has
# fields mgctl sign does not mint (Akamai st, id, data, ACL lists): steps 2
# and 3 only.
# Run by `make check` (exit 77 = skipped without python3 or $MGCTL).
set -u
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "SKIP: python3 is not installed"; exit 77
fi
if [ -z "${MGCTL:-}" ] || [ ! -x "$MGCTL" ]; then
    echo "SKIP: \$MGCTL does not name the built mgctl (make check sets it)"; exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mg-fvectors.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

echo "== sign_formats.py"
"$PYTHON" "$here/sign_formats.py" --vectors "$here/format-vectors.json" || exit 1

echo "== mgctl sign --token-format / mgctl verify"
"$PYTHON" - "$MGCTL" "$here/format-vectors.json" "$tmp" <<'PY'
import json, os, subprocess, sys
mgctl, vectors, tmp = sys.argv[1:4]
data = json.load(open(vectors, encoding="utf-8"))
failed = 0
for kid, k in data["keys"].items():
    path = os.path.join(tmp, kid + ".secret")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(k["secret"] + "\n")
    if "private_key" in k:  # cloudfront: the key entry holds the public key only
        path = os.path.join(tmp, kid + ".private.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(k["private_key"])
    opts = "".join("      %s: %s\n" % (n, json.dumps(v)) for n, v in k.get("options", {}).items())
    alg = "    alg: %s\n" % k["alg"] if "alg" in k else ""
    with open(os.path.join(tmp, kid + ".yaml"), "w") as f:
        f.write("version: 1\nkeys:\n  - id: %s\n    format: %s\n    file: %s.secret\n%s"
                "    options:%s\nrules:\n  - {id: all, path: /, token: required}\n"
                % (kid, k["format"], kid, "    alg: %s\n" % k["alg"] if "alg" in k else "",
                   "\n" + opts if opts else " {}"))
for v in data["vectors"]:
    pol = os.path.join(tmp, v["key"] + ".yaml")
    args = [mgctl, "sign", "-p", pol, "--token-format", data["keys"][v["key"]]["format"],
            "--expires", str(v["expires"]) if v["expires"] else "never",
            "--now", "1970-01-01T00:00:01Z"]
    if "ip" in v:
        args += ["--ip", v["ip"]]
    if "prefix" in v:
        args += ["--prefix", v["prefix"]]
    if "not_before" in v:
        args += ["--not-before", str(v["not_before"])]
    if "private_key" in data["keys"][v["key"]]:
        args += ["--private-key", os.path.join(tmp, v["key"] + ".private.pem")]
    if v.get("verify_only"):  # fields mgctl sign does not mint (st, id, data, ACL lists)
        r, got = None, v["expected"]
    elif v.get("cookie"):  # a signed cookie: its Set-Cookie value starts with NAME=VALUE
        r = subprocess.run(args + ["--cookie"], capture_output=True, text=True)
        got = r.stdout.split(";")[0].strip()
    else:
        r = subprocess.run(args + [v["url"]], capture_output=True, text=True)
        got = r.stdout.strip()
    if got != v["expected"]:
        print("FAIL  %s: mgctl sign gave %r (%s)" % (v["name"], got, r.stderr.strip()))
        failed += 1
        continue
    now = str(v["expires"] - 10) if v["expires"] else "2030-01-01T00:00:00Z"
    vargs = [mgctl, "verify", "-p", pol, "--now", now, "--ip", v.get("ip", "127.0.0.1")]
    if v.get("cookie"):  # the cookie sent with a request for v["url"]
        ok = subprocess.run(vargs + ["--cookie", v["expected"], v["url"]],
                            capture_output=True, text=True)
        bad = subprocess.run(vargs + ["--cookie", v["expected"],
                                      v.get("outside", "/elsewhere/x.mp4")],
                             capture_output=True, text=True)
        want = "token-out-of-scope"
    else:
        ok = subprocess.run(vargs + [v["expected"]], capture_output=True, text=True)
        e = v["expected"]
        i = (e.index("?") if "?" in e else len(e)) - 1  # last byte of the path
        tampered = v["expected"][:i] + ("x" if v["expected"][i] != "x" else "y") + \
            v["expected"][i + 1:]
        want = v.get("tampered_reason", "token-bad-signature")
        if "outside" in v:  # an ACL covers its patterns' paths, not others
            tampered = v["expected"].replace(v["url"].split("?")[0], v["outside"], 1)
            want = "token-out-of-scope"
        elif "prefix" in v:  # a prefix token covers other paths under it, not outside
            tampered = v["expected"].replace(v["prefix"], "/elsewhere/", 1)
            want = "token-out-of-scope"
        if "tampered" in v:  # a scope the key implies (lighttpd's path_segments)
            tampered, want = v["tampered"], v["tampered_reason"]
        bad = subprocess.run(vargs + [tampered], capture_output=True, text=True)
    if ok.returncode != 0 or "reason: allowed-by-token" not in ok.stdout:
        print("FAIL  %s: mgctl verify refused it:\n%s" % (v["name"], ok.stdout))
        failed += 1
    elif bad.returncode != 1 or want not in bad.stdout:
        print("FAIL  %s: mgctl verify did not refuse a changed path:\n%s"
              % (v["name"], bad.stdout))
        failed += 1
    else:
        print("ok    " + v["name"])
sys.exit(1 if failed else 0)
PY
