"""The adversarial URL corpus (tests/adversarial/corpus.yaml) against a real
Apache: every request that tries to get around the guard gets exactly the
answer the corpus names, and none of them gets a protected body.

Two servers share the policy and the files: "untrusted" (127.0.0.1, the test
client, is not a trusted proxy for mod_remoteip or the policy) and "trusted"
(it is). Requests are written to the socket byte for byte, so nothing on the
client side normalises them. tests/adversarial/README.md explains the setup.
"""

import base64
import http.client
import json
import os
import re
import socket
from pathlib import Path

from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from conftest import SRCDIR, htpasswd

ADV = SRCDIR / "tests" / "adversarial"
CORPUS = yaml.safe_load((ADV / "corpus.yaml").read_text())
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw"}

# Files: everything carries "MG-SECRET" except what the policy makes public;
# a refused request whose body holds it (or the origin's "origin:") is a bypass.
PUBLIC = {"public/a.jpg", "public/sub/b.png", "secretx/a.jpg", "media/a.jpg", "media/d.JPG",
          "g/x/public-1.jpg", "g/x/y/private-1.jpg"}
PATHS = ["public/a.jpg", "public/sub/b.png", "secret/photo.jpg", "secret/video.mp4",
         "secret/sub/deep.png", "secret/caf\u00e9.jpg", "secretx/a.jpg", "media/a.jpg",
         "media/b.mp4", "media/c.txt", "media/d.JPG", "media/e.Mp4", "media/list.M3U8",
         "office/a.jpg", "geo/a.jpg", "hot/a.jpg", "hotnav/a.jpg", "signed/a.jpg", "signed/b.jpg",
         "signed/a/b/x.ts", "signed/a/b/sub/y.ts", "signed/a/bc/x.ts", "viewonly/a.jpg",
         "g/x/private-1.jpg", "g/x/public-1.jpg", "g/x/y/private-1.jpg", "members/a.jpg"]
FILES = {p: (b"MG-PUBLIC " if p in PUBLIC else b"MG-SECRET ") + p.encode() + b"\n" for p in PATHS}
BYPASS_MARKERS = (b"MG-SECRET", b"origin:")

# Placeholders for inputs too long to write in the corpus.
EXPANSIONS = {
    "@MANYPARAMS@": "&".join(f"p{i}=1" for i in range(400)),
    "@LONG4500@": "a" * 4500,
    "@LONG7900@": "q" * 7900,
    "@LONG8000@": "r" * 8000,
    "@LONG9000@": "l" * 9000,
    "@DOTS1400@": "/." * 1400,
    "@UPDOWN200@": "x/../" * 200,
    "@LONGROLES@": ",".join(["staff"] * 1300),
    "@LONGTR@": ",".join(f"k{i}-1" for i in range(300)),
    "@LONGAUTH@": base64.b64encode(b"u" * 6000 + b":pw").decode(),
}


def _setup(apache_factory, name, trusted_ip):
    policy = (ADV / "policy.yaml").read_text().replace("@TRUSTED@", f"{trusted_ip}/32")
    conf = (ADV / "apache.conf").read_text().replace("@REMOTEIP_TRUSTED@", trusted_ip)
    srv = apache_factory(name, conf, policies={"adv.yaml": policy}, files=FILES,
                         extra_modules=["proxy", "proxy_http", "remoteip"], loglevel="info",
                         start=False)
    key = srv.policy_dir / "keys" / "adv.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("mg-hmac-sha256:"
                   + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode() + "\n")
    key.chmod(0o600)
    htpasswd(srv.root / "htpasswd", PASSWORDS)
    srv.start()
    return srv


@pytest.fixture(scope="module")
def servers(apache_factory):
    s = {"untrusted": _setup(apache_factory, "adv-untrusted", "10.9.9.9"),
         "trusted": _setup(apache_factory, "adv-trusted", "127.0.0.1")}
    yield s
    for srv in s.values():
        srv.stop()


def send(port, method, target, headers):
    """One request on its own connection, written exactly as given."""
    lines = [f"{method} ".encode() + target + b" HTTP/1.1"]
    names = {k.lower() for k in headers}
    if "host" not in names:
        lines.append(f"Host: 127.0.0.1:{port}".encode())
    for k, v in headers.items():
        lines.append(f"{k}: {v}".encode("latin-1"))
    lines.append(b"Connection: close")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        resp = http.client.HTTPResponse(sock, method=method.upper())
        resp.begin()
        body = resp.read() if method.upper() != "HEAD" else b""
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


@pytest.fixture(scope="module")
def signer(servers, mgctl):
    """sign(url, args) -> the pieces of a fresh link (cached per case)."""
    cache = {}

    def sign(url, args):
        keyname = (url, tuple(args))
        if keyname not in cache:
            srv = servers["untrusted"]
            extra = [] if "--expires" in args else ["--ttl", "1h"]
            p = mgctl("sign", "--policy", srv.policy_dir / "adv.yaml", *extra, *args, url)
            assert p.returncode == 0, p.stderr
            link = p.stdout.strip()
            path, _, query = link.partition("?")
            params = dict(kv.split("=", 1) for kv in query.split("&"))
            token = "&".join(kv for kv in query.split("&") if kv.startswith("mg_"))
            cache[keyname] = {"link": link, "path": path, "query": query, "token": token,
                              "sig": params["mg_sig"], "exp": params["mg_exp"],
                              "kid": params["mg_kid"]}
        return cache[keyname]
    return sign


def expand(case, signer):
    target = case["target"]
    for k, v in EXPANSIONS.items():
        target = target.replace(k, v)
    headers = {k: str(v) for k, v in (case.get("headers") or {}).items()}
    if "sign" in case:
        link = signer(case["sign"]["url"], case["sign"].get("args", []))
        if target == "@FLIPSIG@":
            sig = link["sig"]
            flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
            target = link["link"].replace("mg_sig=" + sig, "mg_sig=" + flipped)
        target = target.format(**link)
        headers = {k: v.format(**link) for k, v in headers.items()}
    for k in list(headers):
        for p, v in EXPANSIONS.items():
            headers[k] = headers[k].replace(p, v)
    if case.get("user"):
        cred = f"{case['user']}:{PASSWORDS[case['user']]}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
    return target.encode("latin-1"), headers


def test_corpus_is_big_enough_and_well_formed():
    ids = [c["id"] for c in CORPUS]
    assert len(CORPUS) >= 150
    assert len(ids) == len(set(ids))
    for c in CORPUS:
        assert c.get("attack") and c.get("cat") and c.get("target") and "status" in c, c["id"]
    cats = {c["cat"] for c in CORPUS}
    for needed in ("encoding", "dot-segments", "path-params", "nul", "utf8", "extension-case",
                   "query-fragment", "token", "token-transformation", "header-spoofing",
                   "hotlink", "transformation", "length", "login-redirect"):
        assert needed in cats


@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_adversarial_request_gets_its_answer(servers, signer, case):
    srv = servers[case.get("server", "untrusted")]
    target, headers = expand(case, signer)
    status, hdrs, body = send(srv.port, case.get("method", "GET"), target, headers)
    if os.environ.get("MG_ADV_DUMP"):
        with open(os.environ["MG_ADV_DUMP"], "a") as f:
            f.write(f"{case['id']}\t{status}\t{hdrs.get('x-media-guard-reason')}\t{body[:30]!r}\n")
    want = case["status"] if isinstance(case["status"], list) else [case["status"]]
    what = f"{case['id']} ({case['attack']}): {target[:200]!r}"
    ok_statuses = {200, 206}
    if not ok_statuses & set(want):
        # a refusal: no protected byte may leave, whatever the status
        for marker in BYPASS_MARKERS:
            assert marker not in body, f"BYPASS {what}: got {status} with {body[:120]!r}"
    assert status in want, (f"{what}: got {status}, want {want}; reason="
                            f"{hdrs.get('x-media-guard-reason')} body={body[:120]!r}")
    if status in ok_statuses and set(want) <= ok_statuses:
        # a control: the right file (or the origin's answer) is served
        rel = target.split(b"?")[0].decode("latin-1")
        if rel.startswith(("/img/", "/simg/")):
            assert body.startswith(b"origin:"), what
        else:
            assert body.startswith((b"MG-PUBLIC", b"MG-SECRET")), what
    if case.get("login"):
        # never an open redirect: login.url, carrying a local path to return to
        loc = urlsplit(hdrs.get("location", ""))
        assert (loc.scheme, loc.netloc, loc.path) == ("https", "login.site.example", "/login"), (
            f"{what}: Location {hdrs.get('location')}")
        back = parse_qs(loc.query).get("return_to", [""])
        assert len(back) == 1, f"{what}: {hdrs.get('location')}"
        ret = back[0]
        assert ret.startswith("/") and not ret.startswith("//") and "\\" not in ret, (
            f"{what}: return URL {ret!r} could leave the site")
        assert not urlsplit(ret).netloc and not urlsplit(ret).scheme, f"{what}: {ret!r}"
    if case.get("reason") and status not in ok_statuses:
        assert hdrs.get("x-media-guard-reason") == case["reason"], (
            f"{what}: reason {hdrs.get('x-media-guard-reason')}, want {case['reason']}")


# ------------------------------------------------------------------ hostile policy and key files
# The module side of the bad-input matrix (tests/bad-input.sh is mgctl's):
# `apache2 -t` must refuse each with a message, promptly, never crash or hang.

def _bomb():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for n in "bcdefghijkl":
        lines.append(f"{n}: &{n} [" + ",".join([f"*{prev}"] * 10) + "]")
        prev = n
    return "version: 1\n" + "\n".join(lines) + "\nrules: []\n"


GOOD_RULES = "rules:\n  - id: all\n    path: /\n    access: {anonymous: view}\n"
KEYED = ("version: 1\nkeys:\n  - {id: k1, file: keys/k1.key}\n"
         "rules:\n  - id: t\n    path: /\n    token: required\n")
HOSTILE = {
    "empty": ("", None, "empty"),
    "comments-only": ("# nothing\n\n", None, "empty"),
    "50-mb": ("version: 1\n" + "#" * (50 * 1024 * 1024) + "\n" + GOOD_RULES, None, "larger|too large|MiB"),
    "nested-flow": ("version: 1\nx: " + "[" * 100000 + "\n", None, "nest|deep"),
    "alias-bomb": (_bomb(), None, "alias|anchor"),
    "non-utf8": (b"version: 1\nname: caf\xe9\xff\n" + GOOD_RULES.encode(), None, "utf-?8|invalid|character"),
    "nul-byte": (b"version: 1\nname: a\x00b\n" + GOOD_RULES.encode(), None, "nul|control|character|invalid"),
    "binary": (bytes((i * 7919 + 13) % 256 for i in range(65536)), None, "error|invalid"),
    "missing-key": (KEYED, None, "k1.key"),
    "garbage-key": (KEYED, b"\x00\xff" * 64, "key"),
    "empty-key": (KEYED, b"", "key"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_configtest_refuses_a_hostile_policy_promptly(apache_factory, name):
    policy, key, message = HOSTILE[name]
    srv = apache_factory(f"hostile-{name}", "MediaGuardPolicy p @POLICIES@/p.yaml\n",
                         start=False)
    path = srv.policy_dir / "p.yaml"
    path.write_bytes(policy if isinstance(policy, bytes) else policy.encode())
    if key is not None:
        (srv.policy_dir / "keys").mkdir(exist_ok=True)
        (srv.policy_dir / "keys" / "k1.key").write_bytes(key)
        (srv.policy_dir / "keys" / "k1.key").chmod(0o600)
    rc, out = srv.configtest()  # the harness's 30 s timeout turns a hang into a failure
    assert 0 < rc < 128, f"apache2 -t exited {rc}:\n{out[-2000:]}"
    assert re.search(message, out, re.I), out[-2000:]


# A key file named where a policy or a test file belongs (a swapped argument,
# a tab-completed name) is one line of secret: the error must not quote it
# into the configtest output and the error log (red team 19: the first 40
# characters were shown, 25 of a native key's 43, a short vendor secret whole).
KEY_FILES = {
    "hmac": "mg-hmac-sha256:" + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode(),
    "vendor": base64.urlsafe_b64encode(os.urandom(16)).decode(),  # a Cloud CDN key as Google shows it
    "pem": "-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(
        bytes.fromhex("302e020100300506032b657004220420") + os.urandom(32)).decode()
           + "\n-----END PRIVATE KEY-----\n",
}


def _secret_parts(text):
    """Every 8-character piece of the secret (the PEM's random part only)."""
    if text.startswith("-----BEGIN"):
        body = text.split("\n")[1]
        secret = body[22:]  # after the fixed 16-byte PKCS#8 Ed25519 header (21.3 base64 characters)
    else:
        secret = text.split(":", 1)[-1]
    return [secret[i:i + 8] for i in range(0, len(secret) - 7)]


@pytest.mark.parametrize("kind", sorted(KEY_FILES))
def test_a_key_file_named_as_the_policy_or_test_file_is_never_quoted(apache_factory, mgctl, kind):
    text = KEY_FILES[kind]
    srv = apache_factory(f"keyaspolicy-{kind}", "MediaGuardPolicy p @POLICIES@/k.key\n", start=False)
    key = srv.policy_dir / "k.key"
    key.write_text(text)
    key.chmod(0o600)
    rc, out = srv.configtest()
    assert 0 < rc < 128, out[-2000:]
    assert "expected a mapping for the policy" in out, out[-2000:]
    for p in (mgctl("validate", key), mgctl("explain", "-p", key, "/a.jpg"), mgctl("test", key)):
        assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
        out += p.stdout + p.stderr
    assert "must be a mapping" in out
    leaked = [part for part in _secret_parts(text) if part in out]
    assert not leaked, (leaked[:3], out[-2000:])


def test_configtest_caps_a_flood_of_errors(apache_factory):
    """200,000 errors printed 20 MB (issue 14): the first 100, then a count."""
    srv = apache_factory("hostile-flood", "MediaGuardPolicy p @POLICIES@/p.yaml\n", start=False)
    (srv.policy_dir / "p.yaml").write_text(
        "version: 1\n" + "".join(f"unknown{i}: 1\n" for i in range(20000)))
    rc, out = srv.configtest()
    assert 0 < rc < 128, out[-2000:]
    assert len(out) < 40000, len(out)
    # 100 listed, and the directive error repeats the first
    assert out.count(": error: ") == 101, out[-3000:]
    assert re.search(r"p\.yaml: \.\.\. and 199\d\d more diagnostics \(the first 100 are shown\)",
                     out), out[-2000:]
    assert "the first listed above" in out


@pytest.mark.parametrize("what", ["policy", "key"])
def test_configtest_does_not_block_on_a_fifo(apache_factory, what):
    srv = apache_factory(f"fifo-{what}", "MediaGuardPolicy p @POLICIES@/p.yaml\n", start=False)
    path = srv.policy_dir / "p.yaml"
    if what == "policy":
        os.mkfifo(path)
    else:
        path.write_text(KEYED)
        (srv.policy_dir / "keys").mkdir(exist_ok=True)
        os.mkfifo(srv.policy_dir / "keys" / "k1.key")
    rc, out = srv.configtest()
    assert 0 < rc < 128, out[-2000:]


# Public keys no signer makes, whose verification anyone passes, each a PEM like
# any other in review (red team 23b): the Ed25519 identity point (R = identity,
# S = 0 verified every link), an RSA key with e = 1 (a CloudFront policy's padded
# digest was its own signature) and the P-256 point at infinity (an ECDSA
# signature computed without a private key). With any of them Apache served
# every path to a forged link; now each is refused at load.
def _pem(der):
    return "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PUBLIC KEY-----\n"


FORGEABLE_KEYS = {
    "ed25519-identity": ("{id: k1, alg: ed25519, file: keys/k1.pub}",
                         _pem(bytes.fromhex("302a300506032b6570032100") + b"\x01" + bytes(31)),
                         "the Ed25519 public key is a point of small order"),
    "rsa-e1": ("{id: k1, format: cloudfront, file: keys/k1.pub, options: {origin: 'https://a.example'}}",
               _pem(base64.b64decode(
                   "MIIBIDANBgkqhkiG9w0BAQEFAAOCAQ0AMIIBCAKCAQEAmpzndL9S2Gl1egLWcLhZTQ+yLSRwRoWlgMyJrS/6b8ho"
                   "7xzRCnkxDu8MnWve/HQFazc85SLic0zpgPXdqFXkDxqc53S/UthpdXoC1nC4WU0Psi0kcEaFpYDMia0v+m/IaO8c"
                   "0Qp5MQ7vDJ1r3vx0BWs3POUi4nNM6YD13ahV5A8anOd0v1LYaXV6AtZwuFlND7ItJHBGhaWAzImtL/pvyGjvHNEK"
                   "eTEO7wyda978dAVrNzzlIuJzTOmA9d2oVeQPGpzndL9S2Gl1egLWcLhZTQ+yLSRwRoWlgMyJrS/6b8ho7xzRCnkx"
                   "Du8MnWve/HQFazc85SLic0zpgPXdqFXkDwIBAQ==")),
               "the RSA public exponent is 1"),
    "ecdsa-infinity": ("{id: k1, format: cloudfront, alg: ecdsa-sha1, file: keys/k1.pub, "
                       "options: {origin: 'https://a.example'}}",
                       _pem(base64.b64decode("MBkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDAgAA")),
                       "not a valid P-256 point"),
}


@pytest.mark.parametrize("kind", sorted(FORGEABLE_KEYS))
def test_configtest_refuses_a_public_key_anyone_can_sign_for(apache_factory, mgctl, kind):
    entry, pem, message = FORGEABLE_KEYS[kind]
    srv = apache_factory(f"forgeable-{kind}", "MediaGuardPolicy p @POLICIES@/p.yaml\n", start=False)
    (srv.policy_dir / "p.yaml").write_text(KEYED.replace("{id: k1, file: keys/k1.key}", entry))
    (srv.policy_dir / "keys").mkdir(exist_ok=True)
    (srv.policy_dir / "keys" / "k1.pub").write_text(pem)
    rc, out = srv.configtest()
    assert 0 < rc < 128, out[-2000:]
    assert "p.yaml:3:5: error: key 'k1'" in out and message in out, out[-2000:]
    p = mgctl("validate", srv.policy_dir / "p.yaml")
    assert p.returncode == 1 and message in p.stdout, (p.returncode, p.stdout, p.stderr)


def test_configtest_warns_about_a_world_readable_key(apache_factory):
    srv = apache_factory("open-key", "MediaGuardPolicy p @POLICIES@/p.yaml\n", start=False)
    (srv.policy_dir / "p.yaml").write_text(KEYED)
    (srv.policy_dir / "keys").mkdir(exist_ok=True)
    key = srv.policy_dir / "keys" / "k1.key"
    key.write_text("mg-hmac-sha256:" + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode())
    key.chmod(0o644)
    rc, out = srv.configtest()
    assert rc == 0, out
    assert "readable" in out, out


def test_configtest_refuses_a_public_key_everyone_may_write(apache_factory):
    """A public Ed25519 key may be readable, never writable: whoever can write
    it can put their own key there and sign links (red team 19: no warning).
    Everyone writing it (or the policy) is refused at configtest, at the
    key's line:column; its group writing it is a warning."""
    srv = apache_factory("writable-key", "MediaGuardPolicy p @POLICIES@/p.yaml\n", start=False)
    (srv.policy_dir / "p.yaml").write_text(KEYED.replace("{id: k1, file: keys/k1.key}",
                                                         "{id: k1, alg: ed25519, file: keys/k1.pub}"))
    (srv.policy_dir / "keys").mkdir(exist_ok=True)
    # the directory's own mode, whatever the umask: a group-writable one is a warning of its own
    (srv.policy_dir / "keys").chmod(0o755)
    key = srv.policy_dir / "keys" / "k1.pub"
    key.write_text("-----BEGIN PUBLIC KEY-----\n"
                   "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
                   "-----END PUBLIC KEY-----\n")
    key.chmod(0o666)
    rc, out = srv.configtest()
    assert rc != 0, out
    assert re.search(r"p\.yaml:\d+:\d+: error: key file '%s' of key 'k1' is writable by everyone"
                     % re.escape(str(key)), out), out
    assert "MediaGuardPolicy p: %s was refused" % (srv.policy_dir / "p.yaml") in out, out
    key.chmod(0o664)
    rc, out = srv.configtest()
    assert rc == 0 and "k1.pub' of key 'k1' is writable by its group" in out, out
    key.chmod(0o644)
    rc, out = srv.configtest()
    assert rc == 0 and "writable" not in out and "readable" not in out, out
    # the policy itself: whoever may write it decides who sees the media
    (srv.policy_dir / "p.yaml").chmod(0o666)
    rc, out = srv.configtest()
    assert rc != 0 and "p.yaml: error: the policy is writable by everyone" in out, out
    (srv.policy_dir / "p.yaml").chmod(0o664)
    rc, out = srv.configtest()
    assert rc == 0 and "writable" not in out, out


def test_configtest_refuses_a_directory_everyone_may_write_above_the_trusted_files(
        apache_factory, mgctl):
    """Whoever can write a directory above the policy, a key or the revocation
    file can rename a file of their own over it, whatever its own mode says
    (red team 19's note: nothing warned). apache2 -t and mgctl validate
    refuse it, with the file's own code, naming the directory; a directory
    with the sticky bit (only an entry's owner may replace it, /tmp's 1777)
    is fine, and one only its group may write is a warning above a key."""
    srv = apache_factory("writable-dir", "MediaGuardPolicy p @ROOT@/conf/p.yaml\n", start=False)
    conf = srv.root / "conf"
    (conf / "keys").mkdir(parents=True)
    (conf / "lists").mkdir()
    for d in (conf, conf / "keys", conf / "lists"):
        d.chmod(0o755)
    key = conf / "keys" / "k1.key"
    key.write_text("mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n")
    key.chmod(0o600)
    revoked = conf / "lists" / "revoked.txt"
    revoked.write_text("aaaa\n")
    revoked.chmod(0o644)
    (conf / "p.yaml").write_text(KEYED.replace(
        "rules:", "tokens:\n  revocation_file: lists/revoked.txt\nrules:"))
    (conf / "p.yaml").chmod(0o644)
    refused = "MediaGuardPolicy p: %s was refused" % (conf / "p.yaml")

    def above(d, what, by="everyone", sev="error"):
        return ("%s: directory '%s' above %s is writable by %s and has no sticky bit"
                % (sev, d, what, by))
    try:
        # group write counts above a key file, as for the key file itself: both bits at once
        (conf / "keys").chmod(0o777)
        rc, out = srv.configtest()
        assert rc != 0 and refused in out, out
        assert "p.yaml:3:5: " + above(conf / "keys", "key file '%s' of key 'k1'" % key,
                                      "its group and by everyone") in out, out
        p = mgctl("validate", "--format", "json", conf / "p.yaml")
        assert p.returncode == 1, p.stdout + p.stderr
        found = sorted((d["code"], d["severity"]) for d in json.loads(p.stdout)["diagnostics"]
                       if "above" in d["message"])
        assert found == [("key-file-permissions", "error")], p.stdout
        # the sticky bit: an entry can only be replaced by its owner
        (conf / "keys").chmod(0o1777)
        rc, out = srv.configtest()
        assert rc == 0 and "above" not in out and "warning" not in out, out
        # its group only: a warning (a deploy group is a choice the admin made)
        (conf / "keys").chmod(0o775)
        rc, out = srv.configtest()
        assert rc == 0, out
        assert "p.yaml:3:5: " + above(conf / "keys", "key file '%s' of key 'k1'" % key,
                                      "its group", "warning") in out, out
        (conf / "keys").chmod(0o755)
        (conf / "lists").chmod(0o777)
        rc, out = srv.configtest()
        assert rc != 0 and refused in out, out
        assert "p.yaml:5:20: " + above(conf / "lists", "the revocation file '%s'" % revoked) in out, out
        (conf / "lists").chmod(0o755)
        conf.chmod(0o777)
        rc, out = srv.configtest()
        assert rc != 0 and refused in out, out
        assert "p.yaml: " + above(conf, "the policy") in out, out
    finally:
        for d in (conf, conf / "keys", conf / "lists"):
            d.chmod(0o755)
    rc, out = srv.configtest()
    assert rc == 0 and "warning" not in out, out


def test_configtest_warns_about_a_store_password_and_a_zone_file_others_may_reach(
        apache_factory, monkeypatch):
    """The last two files the module read without a permission check: the
    MediaGuardStore password_file (a secret: the key file's rule, group
    counts) and a time zone's TZif file (the country database's rule: only
    everyone counts; whoever writes it moves the time windows). apache2 -t
    warns, each with its own code's wording, and never prints the password;
    a safe setup is silent. Nothing listens on the store's port: the
    password is read (and judged) with the configuration."""
    password = "Sw0rdf1sh-" + base64.urlsafe_b64encode(os.urandom(12)).decode()
    srv = apache_factory(
        "secret-files",
        "MediaGuardStore redis://127.0.0.1:1/0?password_file=@ROOT@/conf/redis.pw\n"
        "MediaGuardPolicy p @POLICIES@/p.yaml\n",
        policies={"p.yaml": "version: 1\ntimezone: Europe/Berlin\n" + GOOD_RULES}, start=False)
    conf, zi = srv.root / "conf", srv.root / "zoneinfo"
    (zi / "Europe").mkdir(parents=True)
    conf.mkdir()
    for d in (conf, zi, zi / "Europe"):
        d.chmod(0o755)
    pw = conf / "redis.pw"
    pw.write_text(password + "\n")
    pw.chmod(0o640)
    berlin = zi / "Europe" / "Berlin"
    berlin.write_bytes(Path("/usr/share/zoneinfo/Europe/Berlin").read_bytes())
    berlin.chmod(0o666)
    monkeypatch.setenv("MG_ZONEINFO", str(zi))
    # a zone file everyone may write: refused, at the zone's line:column
    rc, out = srv.configtest()
    assert rc != 0, out
    assert ("p.yaml:2:11: error: time zone file '%s' is writable by everyone: whoever can "
            "write it moves the time windows in that zone" % berlin) in out, out
    assert password not in out, out
    berlin.chmod(0o644)
    rc, out = srv.configtest()
    assert rc == 0, out
    assert ("MG00611: MediaGuardStore redis://127.0.0.1:1/0?password_file=%s: warning: "
            "password_file '%s' is readable by group or others" % (pw, pw)) in out, out
    assert password not in out, out
    # group write of a zone file is left alone; a password file its group may write is not
    berlin.chmod(0o664)
    pw.chmod(0o620)
    rc, out = srv.configtest()
    assert rc == 0 and "time zone file" not in out, out
    assert "password_file '%s' is writable by group or others" % pw in out, out
    # the directories above: the same rules (everyone writing a zone's is refused;
    # the password file's stay warnings: a wrong password grants nothing)
    pw.chmod(0o600)
    berlin.chmod(0o644)
    conf.chmod(0o777)
    (zi / "Europe").chmod(0o777)
    try:
        rc, out = srv.configtest()
        assert rc != 0, out
        assert ("error: directory '%s' above the time zone file '%s' is writable by everyone "
                "and has no sticky bit" % (zi / "Europe", berlin)) in out, out
        (zi / "Europe").chmod(0o755)
        rc, out = srv.configtest()
        assert rc == 0, out
        assert ("warning: directory '%s' above password_file '%s' is writable by its group and "
                "by everyone and has no sticky bit" % (conf, pw)) in out, out
    finally:
        conf.chmod(0o755)
        (zi / "Europe").chmod(0o755)
    rc, out = srv.configtest()
    assert rc == 0 and "warning" not in out, out
    assert password not in out, out
