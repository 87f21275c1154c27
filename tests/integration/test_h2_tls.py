"""HTTP/2 over TLS, as browsers speak it (red team 26a): mod_ssl and mod_http2
on the harness's throwaway certificate (`tls=True`: a CA and a server
certificate for media.test, *.media.test, other.test and 127.0.0.1 made with
the openssl CLI once per session), and a client that keeps ONE connection for
all its requests (h2client.js, node's http2; SNI and `:authority` as given).

Each case asks whether the policy judges exactly what Apache then serves:
the request forms of HTTP/2 (`:path`, `:authority` against a `host` field),
cookies split over several `cookie` fields, server push of protected media
and of one-time links, connection coalescing onto another virtual host (one
certificate for two vhosts with different policies) and Apache's 421, SNI
against the Host under `SSLStrictSNIVHostCheck`, and the HLS rewriter's
scheme and port on https on a port that is not 443.
"""

import json
import re
import subprocess
import time

import pytest

from conftest import HERE, TEST_KEY, write_secrets

JPEG = b"\xff\xd8\xff\xe0 protected picture over h2" * 4

POLICY = """\
version: 1
name: @NAME@
default: deny
keys:
  - {id: k1, file: keys/k1.key, sign: true}
tokens: {cookie: mg_token}
rules:
  - {id: v, path: /v/, access: {anonymous: @V@}}
  - {id: s, path: /s/, access: {anonymous: @V@}}
  - {id: secret, path: /secret/, access: {anonymous: none}, deny: {status: 403, page: /denied.html}}
  - {id: c, path: /c/, token: required}
  - {id: once, path: /once/, token: required}
  - {id: hls, path: /hls/, token: required}
"""

# roles from the client certificate's subject (mod_ssl's SSL_CLIENT_S_DN_OU)
CERTS_POLICY = """\
version: 1
name: certs
default: deny
roles: [staff]
identity:
  roles_from: [{env: SSL_CLIENT_S_DN_OU}]
rules:
  - {id: staff, path: /staff/, access: {anonymous: none, staff: view}}
"""

# the same, the variable's name written in another case: mod_ssl reads names
# without regard to case, and so must the verification check
CASE_POLICY = CERTS_POLICY.replace("name: certs", "name: certscase").replace(
    "SSL_CLIENT_S_DN_OU", "ssl_Client_S_dn_OU")

# the user is the certificate's CN (SSLUserName), its roles its OU
CERTS_VHOST = """MediaGuardPolicy certs @POLICIES@/certs.yaml
    SSLCACertificateFile "@CA@"
    SSLUserName SSL_CLIENT_S_DN_CN
    """

# the same document root under three names: media.test (policy "open"),
# other.test (policy "closed": /v/ refused) and x.media.test (open, but an
# SSL configuration another connection's cannot serve: Apache's 421)
VHOST = """\
<VirtualHost 127.0.0.1:@PORT@>
    ServerName {name}
    {extra}
    CustomLog "@ROOT@/logs/vh.log" vh
    <LocationMatch "^/(v|secret|c|once|hls|staff)/">
        Require media-guard {policy}
        MediaGuardHLSRewrite On
    </LocationMatch>
    H2Push on
    H2EarlyHints on
    # an allowed page whose origin asks for preloads (pushed under H2Push on)
    <Location "/index.html">
        Header add Link "</v/a.jpg>; rel=preload"
        Header add Link "</secret/s.jpg>; rel=preload"
        Header add Link "</c/a.jpg>; rel=preload"
        Header add Link "<@ONCE@>; rel=preload"
        # pushed before the response, announced in a 103 (H2EarlyHints)
        H2PushResource "/secret/s.jpg?early=1"
    </Location>
    # the policy's own refusal page asks for one too (on its 403)
    <Location "/denied.html">
        Header always add Link "</secret/s.jpg?from=denied>; rel=preload"
    </Location>
</VirtualHost>
"""

CONF = """\
MediaGuardPolicy open @POLICIES@/open.yaml
# a page whose server-side include asks for /staff/a.jpg: a sub-request made
# after the page's fixups, with a copy of its environment (mod_ssl's SSL_*)
<Directory "@HTDOCS@/inc">
    Options +Includes
    AddOutputFilter INCLUDES .shtml
    SSLOptions +StdEnvVars
</Directory>
MediaGuardPolicy closed @POLICIES@/closed.yaml
MediaGuardOnceCache shmcb:@ROOT@/logs/mg-once(512000) lost_records=warn
MediaGuardReasonHeader On
AddType application/vnd.apple.mpegurl .m3u8
# a Require in the main server's section, for every vhost: the policy
# "shared" is the main server's (open) unless a vhost declares its own of
# that name (other.test: closed), which the module picks by the request's vhost
MediaGuardPolicy shared @POLICIES@/open.yaml
<Location "/s/">
    Require media-guard shared
</Location>
# the virtual host that served, the Host it saw, the SNI of the connection
LogFormat "%v|%{Host}i|%{SSL_TLS_SNI}x|%>s|%r|mg=%<{MG_DECISION}n|reason=%<{MG_REASON}n|policy=%<{MG_POLICY}n" vh
""" + "".join(VHOST.format(name=n, policy=p, extra=e) for n, p, e in (
    ("media.test", "open", ""),
    ("other.test", "closed", "MediaGuardPolicy shared @POLICIES@/closed.yaml"),
    ("x.media.test", "open", "SSLProtocol TLSv1.2"),
    ("strict.media.test", "open", "SSLStrictSNIVHostCheck on"))) + "".join(
    VHOST.format(name=n, policy="certs", extra=CERTS_VHOST + e) for n, e in (
        ("certs.media.test", "SSLVerifyClient require"),
        ("anyca.media.test", "SSLVerifyClient optional_no_ca"),
        ("opt.media.test", "SSLVerifyClient optional"))) + "".join(
    VHOST.format(name=n, policy="certscase", extra=CERTS_VHOST.replace("certs ", "certscase ")
                 .replace("certs.yaml", "certscase.yaml") + e) for n, e in (
        ("casereq.media.test", "SSLVerifyClient require"),
        ("caseany.media.test", "SSLVerifyClient optional_no_ca")))

PLAYLIST = """\
#EXTM3U
#EXT-X-TARGETDURATION:4
#EXTINF:4.0,
seg-1.ts
#EXTINF:4.0,
https://media.test:@PORT@/hls/seg-2.ts
#EXTINF:4.0,
http://media.test:@PORT@/hls/seg-3.ts
#EXTINF:4.0,
https://media.test/hls/seg-4.ts
#EXTINF:4.0,
https://other.test:@PORT@/hls/seg-5.ts
"""

FILES = {"v/a.jpg": JPEG, "s/a.jpg": JPEG, "staff/a.jpg": JPEG, "secret/s.jpg": JPEG, "c/a.jpg": JPEG, "once/a.jpg": JPEG,
         "inc/p.shtml": '<p>[<!--#include virtual="/staff/a.jpg" -->]</p>',
         "index.html": "<p>page</p>", "denied.html": "<p>refused</p>", "hls/seg-1.ts": b"TS"}


@pytest.fixture(scope="module")
def srv(apache_factory, mgctl):
    s = apache_factory("h2tls", "", files=FILES, extra_modules=["headers", "socache_shmcb", "include"],
                       tls=True, start=False)
    write_secrets(s, {"k1.key": TEST_KEY})
    for name, v in (("open", "view"), ("closed", "none")):
        (s.policy_dir / f"{name}.yaml").write_text(
            POLICY.replace("@NAME@", name).replace("@V@", v))
    (s.policy_dir / "certs.yaml").write_text(CERTS_POLICY)
    (s.policy_dir / "certscase.yaml").write_text(CASE_POLICY)
    # the one-time link the page's origin asks the server to push: signed
    # before the server starts, since the Link header is configuration
    s.once_link = sign(s, mgctl, "/once/a.jpg", "--once")
    s.conf_snippet = CONF.replace("@ONCE@", s.once_link.replace("%", "%%"))
    s.write_conf()
    (s.htdocs / "hls" / "p.m3u8").write_text(PLAYLIST.replace("@PORT@", str(s.port)))
    s.start()
    return s


def sign(s, mgctl, url, *opts):
    p = mgctl("sign", "--policy", s.policy_dir / "open.yaml", "--ttl", "10m", *opts, url)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def h2(srv, requests, servername="media.test", push=False, client=None):
    """Run `requests` (lists of [name, value]) on one HTTP/2 connection over
    TLS with this SNI (and the client certificate `client`: "client" or
    "rogue"); h2client.js's result (responses, pushes, alpn). A request
    without `:authority` gets media.test:PORT."""
    return h2_many(srv, [dict(requests=requests, servername=servername, push=push,
                              client=client)])[0]


def h2_many(srv, connections):
    """h2() for each of `connections` (dicts of its arguments), one after the
    other, in one node process: a list of results."""
    specs = []
    for c in connections:
        spec = {"connect": srv.url("/"), "servername": c.get("servername", "media.test"),
                "ca": str(srv.tls.ca), "push": c.get("push", False), "requests": []}
        if c.get("client"):
            spec["cert"] = str(getattr(srv.tls, f"{c['client']}_cert"))
            spec["key"] = str(getattr(srv.tls, f"{c['client']}_key"))
        for hs in c["requests"]:
            if not any(k == ":authority" for k, _ in hs):
                hs = [[":authority", f"media.test:{srv.port}"], *hs]
            spec["requests"].append({"headers": hs})
            srv.requests_sent += 1
        specs.append(spec)
    path = srv.root / "logs" / f"h2spec-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(specs))
    p = subprocess.run(["node", str(HERE / "h2client.js"), str(path)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for o in out:
        assert o["alpn"] == "h2", o
    return out


def vh_lines(srv, fragment, n=1, timeout=10):
    """The last n lines of logs/vh.log whose request contains fragment,
    split into their fields (waits for them: a line is written after the
    response)."""
    deadline = time.time() + timeout
    while True:
        p = srv.root / "logs" / "vh.log"
        lines = [ln.split("|") for ln in (p.read_text() if p.exists() else "").splitlines()
                 if fragment in ln]
        if len(lines) >= n or time.time() > deadline:
            return lines[-n:]
        time.sleep(0.02)


def status(r):
    return r.get("status"), r.get("error")


# ------------------------------------------------------------ request forms

# (:path, status, reason in the access log or None when the policy is not
# asked). Absolute-form and a `:path` that does not start with "/" are
# stream errors in mod_http2: nothing is served.
FORMS = [
    ("/v/a.jpg", 200, "allowed"),
    ("/secret/s.jpg", 403, "role-insufficient"),
    ("/v/%2e%2e/secret/s.jpg", 403, "role-insufficient"),
    ("/v/..%2fsecret/s.jpg", 404, None),  # AllowEncodedSlashes Off: never a file
    ("//secret/s.jpg", 403, "role-insufficient"),
    ("/v/;/../secret/s.jpg", 403, "bad-url"),
    ("/secret/s.jpg;.jpg", 403, "role-insufficient"),
    ("/v/a.jpg;/../../secret/s.jpg", 403, "role-insufficient"),
    ("/secret/s.jpg%23.jpg", 403, "role-insufficient"),
    ("/SECRET/s.jpg", 404, None),
]


def test_http2_request_forms_over_tls_are_judged_as_apache_serves_them(srv):
    # never served: absolute form, no leading slash, CONNECT; OPTIONS * has no body
    out, odd = h2_many(srv, [
        dict(requests=[[[":path", p]] for p, _, _ in FORMS]),
        dict(requests=[[[":path", f"https://media.test:{srv.port}/secret/s.jpg"]],
                       [[":path", "secret/s.jpg"]],
                       [[":method", "CONNECT"], [":authority", f"media.test:{srv.port}"]],
                       [[":method", "OPTIONS"], [":path", "*"]]])])
    srv.requests_sent -= 2  # the stream errors log nothing
    for (path, want, reason), r in zip(FORMS, out["responses"]):
        assert r["status"] == want, (path, r)
        assert (JPEG in r["body"].encode("latin1")) == (want == 200), path
        line = vh_lines(srv, f"GET {path} HTTP/2.0")[0]
        assert line[6] == f"reason={reason or '-'}", (path, line)
    got = [status(r) for r in odd["responses"]]
    assert got[0] == (None, "ERR_HTTP2_STREAM_ERROR") and got[1] == (None, "ERR_HTTP2_STREAM_ERROR")
    assert got[2][0] == 405 and got[3][0] == 200, got
    assert all(JPEG not in r.get("body", "").encode("latin1") for r in odd["responses"])


def test_authority_chooses_the_vhost_and_a_differing_host_field_changes_nothing(srv):
    """mod_http2 sets Host from `:authority`: a `host` field that names
    another vhost neither chooses the vhost nor reaches the module."""
    p = srv.port
    out = h2(srv, [[[":authority", f"other.test:{p}"], [":path", "/v/a.jpg?h=1"],
                    ["host", f"media.test:{p}"]],
                   [[":authority", f"media.test:{p}"], [":path", "/v/a.jpg?h=2"],
                    ["host", f"other.test:{p}"]]])
    assert [r["status"] for r in out["responses"]] == [403, 200]
    closed, opened = vh_lines(srv, "?h=1")[0], vh_lines(srv, "?h=2")[0]
    assert closed[:2] == ["other.test", f"other.test:{p}"] and closed[7] == "policy=closed", closed
    assert opened[:2] == ["media.test", f"media.test:{p}"] and opened[7] == "policy=open", opened


# ------------------------------------------------------------ coalescing, SNI

def test_a_coalesced_request_is_judged_by_its_own_vhosts_policy(srv):
    """A browser reuses its media.test connection for other.test (one
    certificate covers both, same address): the request is judged under
    other.test's `Require media-guard closed`; x.media.test, whose SSL
    configuration differs, gets Apache's 421 and is never judged nor served.
    A `Require media-guard shared` of the main server names other.test's
    own policy of that name there (closed) and the main server's on
    media.test."""
    p = srv.port
    out = h2(srv, [[[":authority", f"media.test:{p}"], [":path", "/v/a.jpg?co=1"]],
                   [[":authority", f"other.test:{p}"], [":path", "/v/a.jpg?co=2"]],
                   [[":authority", f"x.media.test:{p}"], [":path", "/v/a.jpg?co=3"]],
                   [[":authority", f"media.test:{p}"], [":path", "/v/a.jpg?co=4"]],
                   [[":authority", f"other.test:{p}"], [":path", "/s/a.jpg?co=5"]],
                   [[":authority", f"media.test:{p}"], [":path", "/s/a.jpg?co=6"]]])
    assert [r["status"] for r in out["responses"]] == [200, 403, 421, 200, 403, 200]
    assert JPEG not in (out["responses"][1]["body"] + out["responses"][2]["body"]).encode("latin1")
    lines = {n: vh_lines(srv, f"?co={n}")[0] for n in range(1, 7)}
    for n, (vhost, policy) in {1: ("media.test", "open"), 2: ("other.test", "closed"),
                               3: ("x.media.test", "-"), 4: ("media.test", "open"),
                               5: ("other.test", "shared"), 6: ("media.test", "shared")}.items():
        line = lines[n]
        assert line[0] == vhost and line[2] == "media.test", line  # one connection, SNI media.test
        assert line[7] == f"policy={policy}", line
    assert lines[3][5] == "mg=-", lines[3]
    # the main server's Require, other.test's own policy of that name
    assert lines[5][6] == "reason=role-insufficient" and lines[6][6] == "reason=allowed"


def test_sni_of_another_name_than_the_host(srv):
    """SNI other.test, `:authority` media.test or strict.media.test: each
    served under the policy of the Host's vhost, as for coalescing (mod_ssl
    checks only that the two SSL configurations are compatible;
    `SSLStrictSNIVHostCheck on` is about clients that send no SNI). A
    client without SNI is refused by the strict vhost (403 from mod_ssl,
    never judged, nothing served)."""
    p = srv.port
    # no SNI for the second (node sends none to an address)
    out, out2 = h2_many(srv, [
        dict(requests=[[[":authority", f"media.test:{p}"], [":path", "/v/a.jpg?sni=1"]],
                       [[":authority", f"strict.media.test:{p}"], [":path", "/v/a.jpg?sni=2"]]],
             servername="other.test"),
        dict(requests=[[[":authority", f"strict.media.test:{p}"], [":path", "/v/a.jpg?sni=3"]],
                       [[":authority", f"other.test:{p}"], [":path", "/v/a.jpg?sni=4"]]],
             servername="")])
    assert [r["status"] for r in out["responses"]] == [200, 200]
    for n, vhost in ((1, "media.test"), (2, "strict.media.test")):
        line = vh_lines(srv, f"?sni={n}")[0]
        assert (line[0], line[2], line[7]) == (vhost, "other.test", "policy=open"), line
    # no SNI: the strict vhost refuses
    assert [r["status"] for r in out2["responses"]] == [403, 403]
    assert JPEG not in out2["responses"][0]["body"].encode("latin1")
    strict, other = vh_lines(srv, "?sni=3")[0], vh_lines(srv, "?sni=4")[0]
    assert strict[5] == "mg=-" and strict[2] == "-", strict
    assert other[5:8] == ["mg=deny", "reason=role-insufficient", "policy=closed"], other


# ------------------------------------------------------------ server push

def test_a_push_is_judged_like_a_request_and_carries_no_credentials(srv, mgctl):
    """`H2Push on` and an allowed page whose origin sets `Link: <…>;
    rel=preload`: mod_http2 pushes each as a new request of the same vhost,
    which the policy judges as any other (copying only User-Agent, Accept,
    Accept-Encoding, Accept-Language and Cache-Control from the page's
    request): the open vhost pushes /v/, the closed one refuses it; the
    refused /secret/ and the cookie-only /c/ are pushed as their 403 even
    when the page's request carried the cookie; the policy's own refusal
    page's preload is not pushed at all (mod_http2 pushes only from
    successful responses)."""
    cookie = sign(srv, mgctl, "/c/", "--prefix", "/c/", "--cookie").split(";", 1)[0]
    assert cookie.startswith("Set-Cookie: mg_token=") or cookie.startswith("mg_token="), cookie
    cookie = cookie.split(": ", 1)[-1]
    p = srv.port
    hosts = (("media.test", 200), ("other.test", 403))
    # the policy's refusal page names a preload: mod_http2 pushes for
    # successful responses only, so nothing is pushed from a refusal
    *outs, refused = h2_many(srv, [
        dict(requests=[[[":authority", f"{host}:{p}"], [":path", "/index.html"],
                        ["cookie", cookie]]], servername=host, push=True) for host, _ in hosts
    ] + [dict(requests=[[[":path", "/secret/s.jpg?page=1"]]], push=True)])
    for (host, v_status), out in zip(hosts, outs):
        pushed = {x["path"].split("?")[0]: x for x in out["pushes"]}
        assert out["responses"][0]["status"] == 200
        assert set(pushed) >= {"/v/a.jpg", "/secret/s.jpg", "/c/a.jpg"}, out["pushes"]
        early = [x for x in out["pushes"] if x["path"] == "/secret/s.jpg?early=1"]
        assert len(early) == 1 and early[0]["status"] == 403, out["pushes"]
        assert out["responses"][0]["informational"] == [
            {"status": 103, "link": "</secret/s.jpg?early=1>; rel=preload"}], out["responses"][0]
        srv.requests_sent += len(out["pushes"])
        assert pushed["/v/a.jpg"]["status"] == v_status, pushed
        for path in ("/secret/s.jpg", "/c/a.jpg"):
            assert pushed[path]["status"] == 403, pushed[path]
            assert JPEG not in pushed[path]["body"].encode("latin1")
        assert (JPEG in pushed["/v/a.jpg"]["body"].encode("latin1")) == (v_status == 200)
    line = vh_lines(srv, "GET /c/a.jpg HTTP/2.0")[0]
    assert line[5:7] == ["mg=deny", "reason=token-missing"], line
    r = refused["responses"][0]
    assert r["status"] == 403 and r["body"] == "<p>refused</p>", r
    assert r["headers"]["link"] == "</secret/s.jpg?from=denied>; rel=preload"
    assert refused["pushes"] == []


def test_a_pushed_one_time_link_is_claimed_by_the_viewer_it_was_pushed_to(srv):
    """The origin names a one-time link in a preload: the push claims it
    for the address of the connection it goes to, which is the viewer's —
    the viewer's own request for it still works, and no other address can
    spend it (nor could it before: the page was the viewer's)."""
    out, own = h2_many(srv, [dict(requests=[[[":path", "/index.html?once=1"]]], push=True),
                             dict(requests=[[[":path", srv.once_link]]])])
    pushed = {x["path"].split("?")[0]: x for x in out["pushes"]}
    srv.requests_sent += len(out["pushes"])
    assert pushed["/once/a.jpg"]["status"] == 200, pushed["/once/a.jpg"]
    assert own["responses"][0]["status"] == 200, own
    pushed_line, own = vh_lines(srv, "GET /once/a.jpg?", n=2)
    assert pushed_line[5:7] == own[5:7] == ["mg=allow", "reason=allowed-by-token"], (pushed_line, own)


# ------------------------------------------------------------ cookies

def test_split_cookie_fields_carry_the_signed_cookie(srv, mgctl):
    """Browsers split `cookie` over several HTTP/2 fields; mod_http2 joins
    them with "; " and the module reads the joined header: the signed cookie
    works in any field, next to a forged one (the first valid one wins, as
    in one `Cookie: ` line), and a forged one alone is refused."""
    good = sign(srv, mgctl, "/c/", "--prefix", "/c/", "--cookie").split(": ", 1)[-1]
    good = good.split(";", 1)[0]
    name, value = good.split("=", 1)
    forged = f"{name}={value[:-4]}AAAA"
    cases = [
        ([["cookie", "a=1"], ["cookie", good], ["cookie", "b=2"]], 200, "allowed-by-token"),
        ([["cookie", forged], ["cookie", good]], 200, "allowed-by-token"),
        ([["cookie", "a=1"], ["cookie", forged]], 403, "token-bad-signature"),
        ([["cookie", f"{name}=mg_exp=1"], ["cookie", "mg_sig=x"]], 403, "token-malformed"),
    ]
    out = h2(srv, [[[":path", f"/c/a.jpg?ck={i}"], *c] for i, (c, _, _) in enumerate(cases)])
    for i, ((c, want, reason), r) in enumerate(zip(cases, out["responses"])):
        assert r["status"] == want, (c, r)
        assert vh_lines(srv, f"?ck={i}")[0][6] == f"reason={reason}", (c, vh_lines(srv, f"?ck={i}"))


# ------------------------------------------------------------ HLS over https

def test_hls_rewrite_over_https_on_its_own_port_gives_the_token_to_https_uris_of_this_origin_only(
        srv, mgctl):
    """Over h2 on https://media.test:PORT the playlist's relative URI and
    its https URI of the same host and port get the viewer's token; the
    http:// URI of the same host and port (it would carry the token in
    clear text), the same host on 443 and another vhost's name do not; also
    when the client says `:scheme http`."""
    link = sign(srv, mgctl, "/hls/p.m3u8", "--prefix", "/hls/")
    query = link.split("?", 1)[1]
    # the second with `:scheme http` on the TLS connection: the scheme is the
    # connection's (mod_ssl's), not the client's word
    out = h2(srv, [[[":path", link]], [[":path", link], [":scheme", "http"]]])
    p = srv.port
    for r in out["responses"]:
        assert r["status"] == 200, r
        lines = [ln for ln in r["body"].splitlines() if not ln.startswith("#")]
        assert lines == [f"seg-1.ts?{query}", f"https://media.test:{p}/hls/seg-2.ts?{query}",
                         f"http://media.test:{p}/hls/seg-3.ts", "https://media.test/hls/seg-4.ts",
                         f"https://other.test:{p}/hls/seg-5.ts"], r["body"]
        assert re.search(r"mg_sig=", r["body"].split("seg-3.ts")[1]) is None


# ------------------------------------------------------------ client certificates

def test_roles_from_the_client_certificate(srv):
    """`roles_from: [{env: SSL_CLIENT_S_DN_OU}]`: mod_ssl sets its SSL_*
    variables in the fixups, after authorization, so the module asks mod_ssl
    itself. A certificate the CA issued with OU=staff holds the role (the
    user is its CN, SSLUserName); under `SSLVerifyClient optional_no_ca` a
    self-signed one with the same subject (anyone can make it) holds
    nothing (MG00208), and a connection without one has no user."""
    cases = [("certs.media.test", "client", 200, "allow", "allowed", "certs"),
             ("anyca.media.test", "client", 200, "allow", "allowed", "certs"),
             ("anyca.media.test", "rogue", 403, "deny", "role-insufficient", "certs"),
             ("anyca.media.test", None, 403, "auth", "login-required", "certs"),
             # `env: ssl_Client_S_dn_OU`: asked of mod_ssl, and verified
             ("casereq.media.test", "client", 200, "allow", "allowed", "certscase"),
             ("caseany.media.test", "rogue", 403, "deny", "role-insufficient", "certscase"),
             ("opt.media.test", "client", 200, "allow", "allowed", "certs")]
    mark = srv.mark()
    p = srv.port
    # and a request for a vhost that asks for a certificate on a connection
    # made without one, or the other way round: mod_ssl's 421, not served
    *outs, out, out2, inc, inc2, out3 = h2_many(srv, [
        dict(requests=[[[":authority", f"{host}:{p}"], [":path", f"/staff/a.jpg?cc={i}"]]],
             servername=host, client=client) for i, (host, client, *_) in enumerate(cases)] + [
        dict(requests=[[[":authority", f"certs.media.test:{p}"], [":path", "/staff/a.jpg?cc=x1"]]]),
        dict(requests=[[[":authority", f"media.test:{p}"], [":path", "/v/a.jpg?cc=x2"]]],
             servername="certs.media.test", client="client")] + [
        # the page that includes /staff/a.jpg (a sub-request after the
        # page's fixups, mod_ssl's variables in its environment): the
        # self-made certificate's subject is not a role there either
        dict(requests=[[[":authority", f"anyca.media.test:{p}"], [":path", "/inc/p.shtml?cc=x4"]]],
             servername="anyca.media.test", client=c) for c in ("client", "rogue")] + [
        # `SSLVerifyClient optional`: mod_ssl ends the handshake of a
        # certificate it cannot verify; nothing is served
        dict(requests=[[[":authority", f"opt.media.test:{p}"], [":path", "/staff/a.jpg?cc=x3"]]],
             servername="opt.media.test", client="rogue")])
    for i, ((host, client, want, decision, reason, policy), o) in enumerate(zip(cases, outs)):
        r = o["responses"][0]
        assert r["status"] == want, (host, client, r)
        assert (JPEG in r["body"].encode("latin1")) == (want == 200)
        line = vh_lines(srv, f"?cc={i}")[0]
        assert line[5:8] == [f"mg={decision}", f"reason={reason}", f"policy={policy}"], line
    assert [out["responses"][0]["status"], out2["responses"][0]["status"]] == [421, 421]
    assert vh_lines(srv, "?cc=x1")[0][5] == vh_lines(srv, "?cc=x2")[0][5] == "mg=-"
    assert [JPEG in o["responses"][0]["body"].encode("latin1") for o in (inc, inc2)] == [True, False]
    assert "processing this directive" in inc2["responses"][0]["body"], inc2
    assert out3["responses"][0].get("status") is None, out3
    assert "ALERT" in out3["responses"][0]["error"] and vh_lines(srv, "?cc=x3", timeout=0) == [], out3
    # the self-made certificate's subject was there, and said why it is not used
    assert re.search(r"MG00208: media-guard: SSL_CLIENT_S_DN_OU of a client certificate that "
                     r"mod_ssl did not verify \(SSL_CLIENT_VERIFY FAILED:", srv.error_log_since(mark))
