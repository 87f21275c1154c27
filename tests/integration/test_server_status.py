"""mod_status (ExtendedStatus, on by default wherever mod_status is loaded)
shows each worker's request line at /server-status while the response is
sent and after it, until the worker's next request. A signed link there is
a working bearer token for whoever may read that page (Debian: `Require
local`, so every local user and every application on the host that fetches
URLs): on a server with a policy the module writes the line again without
the query, and without a token in the path (mg_mod_status.c)."""

import re
import socket
import subprocess
import time

import pytest

from conftest import keyed_server, mgctl_signer

K1 = "mg-hmac-sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"

POLICY = """\
version: 1
name: st
keys:
  - id: k1
    file: keys/k1.key
    sign: true
  - id: ng
    format: nginx-secure-link
    file: keys/ng.secret
    options: {expression: "$secure_link_expires$uri $secret"}
  - id: lt
    format: lighttpd-secdownload
    file: keys/lt.secret
    options: {uri_prefix: /dl/, timeout: "600"}
rules:
  - {id: v, path: /v/, token: required}
  - {id: dl, path: /dl/, token: required}
  - {id: pub, path: /pub/, access: {anonymous: download}}
"""

# SeeRequestTail: the slot's last 63 bytes, where a query ends
CONF = """\
Protocols h2c http/1.1
ExtendedStatus On
SeeRequestTail On
MediaGuardPolicy st @POLICIES@/st.yaml
MediaGuardReasonHeader On
<Location "/">
    Require media-guard st
</Location>
<Location "/server-status">
    SetHandler server-status
    Require local
</Location>
"""

BIG = b"MG-SECRET " * 400_000  # 4 MB: more than the socket buffers hold
FILES = {"v/a.jpg": b"MG-SECRET a", "v/big.mp4": BIG, "dl/a/x.jpg": b"MG-SECRET x",
         "pub/p.jpg": b"public"}


@pytest.fixture(scope="module")
def srv(apache_factory):
    s = keyed_server(apache_factory, "server-status", CONF, {"st.yaml": POLICY}, FILES,
                     {"k1.key": K1, "ng.secret": "s3cr3t\n", "lt.secret": "lt-secret\n"},
                     extra_modules=["status", "http2"])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def sign(srv, mgctl):
    return mgctl_signer(mgctl, str(srv.policy_dir / "st.yaml"), "--ttl", "5m")


def request_lines(srv):
    """The Request column of every worker slot of /server-status."""
    page = srv.get("/server-status").text
    return [m.replace("&amp;", "&") for m in re.findall(r"<td nowrap>([^<]*)</td></tr>", page)]


def wait_for_line(srv, path, timeout=5):
    """request_lines() once a slot shows `path` (at most `timeout` s)."""
    deadline = time.time() + timeout
    while True:
        lines = request_lines(srv)
        if any(path in l for l in lines) or time.time() > deadline:
            return lines
        time.sleep(0.05)


def secrets_of(link):
    """What of a link must never be shown: each query value of 8 bytes or
    more, and every path segment of 16 bytes or more (a MAC)."""
    path, _, query = link.partition("?")
    vals = [kv.split("=", 1)[1] for kv in query.split("&") if "=" in kv]
    return [v[:12] for v in vals if len(v) >= 8] + [s[:12] for s in path.split("/") if len(s) >= 16]


def shown_after(srv, request, link, path):
    """The slots that show `path` (or, SeeRequestTail, a secret of `link`)
    after request(), none of them showing a secret. The worker that served
    it may take the status request itself (and its slot then shows that):
    request again until another one does."""
    for _ in range(20):
        request()
        lines = request_lines(srv)
        shown = [l for l in lines if path in l or any(s in l for s in secrets_of(link))]
        if shown:
            break
    assert shown, lines
    for line in lines:
        for s in secrets_of(link):
            assert s not in line, (line, link)
    return shown


@pytest.mark.parametrize("fmt,key,path", [("mg-v1", None, "/v/a.jpg"),
                                          ("nginx-secure-link", "ng", "/v/a.jpg"),
                                          ("lighttpd-secdownload", "lt", "/dl/a/x.jpg")])
def test_server_status_never_shows_a_signed_link_that_was_served(srv, sign, fmt, key, path):
    link = sign(fmt, path, key=key)

    def served():
        assert srv.get(link).status_code == 200

    # the slot keeps the request, its path, and that it had a query
    shown = shown_after(srv, served, link, path)
    if "?" in link:
        assert any(l.startswith(f"GET {path}?... HTTP/1.1") for l in shown), shown


def test_server_status_never_shows_the_link_of_a_response_still_being_sent(srv, sign):
    link = sign("nginx-secure-link", "/v/big.mp4", key="ng")
    with socket.create_connection(("127.0.0.1", srv.port)) as c:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.sendall(f"GET {link} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert c.recv(12) == b"HTTP/1.1 200"
        # the worker is blocked writing the rest: its slot is this request
        lines = wait_for_line(srv, "/v/big.mp4")
    assert any(l.startswith("GET /v/big.mp4?... HTTP/1.1") for l in lines), lines
    for line in lines:
        for s in secrets_of(link):
            assert s not in line, (line, link)


def test_server_status_keeps_the_path_of_a_request_without_a_query(srv):
    # as above: ask until a worker other than the one that served it does
    for _ in range(20):
        assert srv.get("/pub/p.jpg").status_code == 200
        lines = request_lines(srv)
        if any(l.startswith("GET /pub/p.jpg HTTP/1.1") for l in lines):
            return
    pytest.fail(f"no slot shows GET /pub/p.jpg: {lines}")


@pytest.mark.parametrize("header,status", [("X-Big: " + "a" * 9000, b"400"),
                                           ("Expect: 100-bogus", b"417")],
                         ids=["oversized-header-400", "expect-417"])
def test_server_status_never_shows_the_link_of_a_request_refused_before_it_is_handled(
        srv, sign, header, status):
    # httpd refuses a header over LimitRequestFieldSize, or an Expect it
    # does not know, while it reads the request: the quick handler never
    # runs, and log_transaction hides the line
    link = sign("mg-v1", "/v/a.jpg")

    def refused():
        with socket.create_connection(("127.0.0.1", srv.port)) as c:
            c.sendall(f"GET {link} HTTP/1.1\r\nHost: 127.0.0.1\r\n{header}\r\n\r\n".encode())
            got = b""
            while chunk := c.recv(65536):  # to the close, after the request is logged
                got += chunk
        assert got.startswith(b"HTTP/1.1 " + status), got[:100]

    shown = shown_after(srv, refused, link, "/v/a.jpg")
    assert any(l.startswith("GET /v/a.jpg?... HTTP/1.1") for l in shown), shown


# an h2c client (node's http2) that keeps its connection open after the
# response, as browsers do, until its standard input closes
H2_CLIENT = r"""
const http2 = require("http2");
const s = http2.connect(process.argv[1]);
const q = s.request({":path": process.argv[2]});
q.on("response", (h) => process.stdout.write(h[":status"] + "\n"));
q.resume();
q.on("end", () => process.stdout.write("end\n"));
process.stdin.resume();
process.stdin.on("end", () => s.close());
"""


def test_server_status_never_shows_the_link_of_an_http2_stream(srv, sign):
    # mod_http2 gives a stream the session's slot only when it ends, and
    # httpd copies the request line there then; the session keeps it while
    # the connection is open
    link = sign("nginx-secure-link", "/v/a.jpg", key="ng")
    # an idle HTTP/2 connection leaves its thread, which may then take the
    # status request (its slot then shows that): connect again until not
    for _ in range(5):
        p = subprocess.Popen(["node", "-e", H2_CLIENT, srv.url("/"), link],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline() == "200\n"
            assert p.stdout.readline() == "end\n"
            # the stream's end reaches the client before its request is
            # logged (earlier tests leave HTTP/1.1 lines of /v/a.jpg)
            lines = wait_for_line(srv, " HTTP/2.0", timeout=2)
        finally:
            p.stdin.close()
            p.wait(timeout=10)
        if any(" HTTP/2.0" in l for l in lines):
            break
    assert any(l.startswith("GET /v/a.jpg?... HTTP/2.0") for l in lines), lines
    for line in lines:
        for s in secrets_of(link):
            assert s not in line, (line, link)
