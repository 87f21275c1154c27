"""Other ways httpd turns one URL into the bytes of another file (red team 26b):
WebDAV (PROPFIND, COPY, MOVE), a CGI's local `Location:` (the X-Sendfile pattern
with what httpd ships), mod_dir's FallbackResource, type maps, mod_autoindex and
mod_speling. Each must be judged on the URL that is served, or be refused; what
no module can see is in docs/directives.md ("Served paths, sub-requests and file
mappings")."""

import os
import socketserver
import threading

import pytest

from conftest import htpasswd
from test_composition import BLOCKLIST as COMPOSITION_BLOCKLIST
from test_composition import NOTLIST, double_negation
from test_composition import IMG, PUBLIC_JPG, SECRET, SERVED_POLICY, SITE_BASIC

# `default: allow` with a rule that owns only the member *images*: a directory
# URL (no extension) belongs to no rule and falls to the default
DAV_POLICY = """\
version: 1
default: allow
rules:
  - id: members
    path: /members/
    classes: [image]
    access: {anonymous: none}
"""

DAV_CONF = """\
MediaGuardPolicy dav @POLICIES@/dav.yaml
MediaGuardReasonHeader On
<Location "/">
    Require media-guard dav
</Location>
<Directory "@HTDOCS@">
    Dav On
</Directory>
DavLockDB "@ROOT@/davdb/lock"
"""


@pytest.fixture(scope="module")
def dav(apache_factory):
    s = apache_factory("dav-collections", DAV_CONF, policies={"dav.yaml": DAV_POLICY},
                       files={"members/secret.jpg": SECRET, "pub/k.txt": "public\n"},
                       extra_modules=["dav", "dav_fs"], start=False)
    # the server's user (nobody when the tests run as root) writes the tree and the lock database
    (s.root / "davdb").mkdir()
    for d in (s.root / "davdb", s.htdocs, s.htdocs / "pub", s.htdocs / "members"):
        os.chmod(d, 0o777)
    s.start()
    yield s
    s.stop()


# COPY /members/ copied secret.jpg to /pub/cp/secret.jpg, which `default: allow` then
# served, and PROPFIND listed it: /members/ has no class, so the `members` rule did not
# own the collection whose files it protects. A method no rule can name is refused now.
@pytest.mark.parametrize("method,headers", [
    ("PROPFIND", {"Depth": "1"}),
    ("COPY", {"Depth": "infinity", "Destination": "/pub/cp/"}),
    ("MOVE", {"Destination": "/pub/mv/"}),
    ("LOCK", {}),
], ids=["propfind", "copy", "move", "lock"])
def test_webdav_methods_on_a_collection_are_refused_even_by_default_allow(dav, method, headers):
    if "Destination" in headers:
        headers = {**headers, "Destination": dav.url(headers["Destination"])}
    r = dav.raw("/members/", headers=headers, method=method)
    assert r.status_code == 403, (r.status_code, dav.last_access(method + " /members/"))
    assert r.headers.get("X-Media-Guard-Reason") == "method-not-allowed"
    assert b"secret.jpg" not in r.content
    assert (dav.htdocs / "members" / "secret.jpg").read_bytes() == SECRET
    for leaked in ("/pub/cp/secret.jpg", "/pub/mv/secret.jpg"):
        assert dav.get(leaked, headers=IMG).status_code == 404


def test_the_methods_a_rule_can_name_still_fall_to_default_allow(dav):
    assert dav.get("/pub/k.txt").status_code == 200
    assert dav.raw("/pub/new.txt", method="PUT").status_code in (201, 204)
    assert dav.get("/members/secret.jpg", headers=IMG).status_code == 403


# ------------------------------------------------------------ URLs that httpd maps to another URL
MAPPERS_CONF = """\
MediaGuardPolicy site @POLICIES@/site.yaml
MediaGuardReasonHeader On
""" + SITE_BASIC + """\
<Directory "@HTDOCS@">
    Options +ExecCGI +Indexes
    AddHandler cgi-script .cgi
    AddHandler type-map .var
    DirectoryIndex disabled
</Directory>
<Directory "@HTDOCS@/app">
    Options +ExecCGI
</Directory>
<Directory "@HTDOCS@/fb">
    FallbackResource /members/secret.jpg
</Directory>
<Directory "@HTDOCS@/members">
    FallbackResource /members/secret.jpg
</Directory>
<Directory "@HTDOCS@/sp">
    CheckSpelling On
</Directory>
<Directory "@HTDOCS@/sp/members">
    CheckSpelling Off
</Directory>
"""

# the X-Sendfile pattern with what httpd ships: a script answers with a local
# Location and no Status, and mod_cgi serves that URL by an internal redirect
LOCAL_REDIRECT_CGI = "#!/bin/sh\nprintf 'Location: /members/secret.jpg\\n\\n'\n"
TYPE_MAP = "URI: pic\n\nURI: ../members/secret.jpg\nContent-type: image/jpeg\n"

MAPPERS_FILES = {
    "members/secret.jpg": SECRET, "members/other.jpg": SECRET, "members/notes.txt": "public notes\n",
    "pub/cat.jpg": PUBLIC_JPG, "send.cgi": LOCAL_REDIRECT_CGI, "app/send.cgi": LOCAL_REDIRECT_CGI,
    "pub/pic.var": TYPE_MAP, "fb/keep.txt": "kept\n",
    "sp/open/secret.jpg": SECRET, "sp/members/secret.jpg": SECRET,
}

POLICY = SERVED_POLICY + """\
  - id: sp-members
    path: /sp/members/
    classes: [image]
    access: {anonymous: none, member: view}
  - id: sp-open
    path: /sp/open/
    classes: [image]
    access: {anonymous: none, member: view}
"""


@pytest.fixture(scope="module")
def mappers(apache_factory):
    s = apache_factory("file-mappers", MAPPERS_CONF, policies={"site.yaml": POLICY},
                       files=MAPPERS_FILES, extra_modules=["cgid", "negotiation", "speling", "autoindex"],
                       loglevel="debug", start=False)
    htpasswd(s.root / "htpasswd", {"alice": "a"})
    for cgi in ("send.cgi", "app/send.cgi"):
        os.chmod(s.htdocs / cgi, 0o755)
    s.start()
    yield s
    s.stop()


def refused(r):
    return r.status_code in (401, 403) and SECRET not in r.content


# /send.cgi has the configuration of /members/secret.jpg (httpd skips authorization for
# the redirect; mg_mod_recheck.c judges it in fixups), /app/send.cgi another one (httpd asks
# the policy itself); FallbackResource's sub-request in /members/ has the parent's, in /fb/ not;
# the type map's variant is served by an internal redirect to /members/secret.jpg
@pytest.mark.parametrize("target", ["/send.cgi", "/app/send.cgi", "/members/gone.txt", "/members/gone",
                                    "/fb/gone.jpg", "/pub/pic.var"])
def test_a_url_that_httpd_serves_as_a_protected_file_is_refused(mappers, target):
    assert refused(mappers.get(target, headers=IMG))


@pytest.mark.parametrize("target", ["/send.cgi", "/app/send.cgi", "/members/gone.txt", "/fb/gone.jpg",
                                    "/pub/pic.var"])
def test_a_url_that_httpd_serves_as_a_protected_file_is_served_to_a_member(mappers, target):
    r = mappers.get(target, headers=IMG, auth=("alice", "a"))
    assert r.status_code == 200 and r.content == SECRET, (r.status_code, mappers.last_access(target))


def test_autoindex_lists_only_what_the_viewer_may_see(mappers):
    # each entry is a sub-request with the listing's configuration: refused, it is left out
    r = mappers.get("/members/", headers={"Accept": "text/html"})
    assert r.status_code == 200 and b"notes.txt" in r.content
    assert b"secret.jpg" not in r.content and b"other.jpg" not in r.content
    r = mappers.get("/members/", headers={"Accept": "text/html"}, auth=("alice", "a"))
    assert b"secret.jpg" in r.content and b"other.jpg" in r.content


def test_autoindex_sort_links_need_ampersands_in_a_guarded_tree(mappers):
    # mod_autoindex writes its column links as ?C=N;O=D; a raw ';' in a query is refused
    # (docs/canonical-urls.md), '&' (which it reads too) is not
    r = mappers.get("/members/?C=N;O=D", headers={"Accept": "text/html"})
    assert r.status_code == 403 and r.headers.get("X-Media-Guard-Reason") == "bad-url"
    r = mappers.get("/members/?C=N&O=D", headers={"Accept": "text/html"})
    assert r.status_code == 200 and b"secret.jpg" not in r.content


def test_a_spelling_correction_into_a_protected_file_names_it_but_serves_nothing(mappers):
    # mod_speling answers /sp/open/SECRET.jpg (judged under `site`: no rule owns the
    # misspelt path) with a 301 to the real name — httpd's documented behaviour, the name
    # only; following it is judged like any request
    r = mappers.get("/sp/Open/secret.jpg", headers=IMG)
    assert r.status_code == 301 and r.headers["Location"].endswith("/sp/open/secret.jpg")
    assert refused(mappers.get("/sp/open/secret.jpg", headers=IMG))


def test_checkspelling_off_on_a_protected_directory_names_nothing(mappers):
    # the configuration docs/directives.md gives: CheckSpelling Off where the files are protected
    for target in ("/sp/members/secret", "/sp/members/SECRET.txt"):
        r = mappers.get(target, headers={"Accept": "text/html"})
        assert r.status_code == 404 and b"secret.jpg" not in r.content, (target, r.status_code)


# ------------------------------------------------------------ a proxied origin that names a local URL or file
# mod_proxy_scgi (shipped with httpd) has both X-Sendfile patterns: a response with a local
# `Location:` and no status is served by an internal redirect (ProxySCGIInternalRedirect, On by
# default), and with `ProxySCGISendfile On` an `X-Sendfile:` header names a file that httpd serves
# through a file sub-request. ProxyErrorOverride serves a local ErrorDocument for an origin's error.

class _ScgiOrigin(socketserver.BaseRequestHandler):
    def handle(self):
        data = b""
        while b":" not in data:
            data += self.request.recv(4096)
        size, rest = data.split(b":", 1)
        while len(rest) < int(size) + 1:
            rest += self.request.recv(4096)
        fields = rest[:int(size)].split(b"\0")
        env = dict(zip(fields[0::2], fields[1::2]))
        path = env.get(b"REQUEST_URI", b"").split(b"?")[0]
        answer = self.server.answers.get(path.rsplit(b"/", 1)[-1].decode(),
                                         "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\norigin")
        self.request.sendall(answer.replace("@HTDOCS@", self.server.htdocs).encode())


class ScgiOrigin(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self, htdocs):
        super().__init__(("127.0.0.1", 0), _ScgiOrigin)
        self.htdocs = str(htdocs)
        self.answers = {
            "redirect": "Location: /members/secret.jpg\r\n\r\n",
            "sendfile": "Status: 200 OK\r\nContent-Type: image/jpeg\r\n"
                        "X-Sendfile: @HTDOCS@/members/secret.jpg\r\n\r\n",
        }
        threading.Thread(target=self.serve_forever, daemon=True).start()


SCGI_CONF = MAPPERS_CONF + """\
ProxyPass "/scgi/" "scgi://127.0.0.1:@SCGI@/"
<Location "/scgi/sf/">
    ProxySCGISendfile On
</Location>
# this server is its own origin here: /nothing/ is a 404
ProxyPass "/perr/" "http://127.0.0.1:@PORT@/nothing/"
<Location "/perr/">
    ProxyErrorOverride On
    ErrorDocument 404 /members/secret.jpg
</Location>
"""


@pytest.fixture(scope="module")
def scgi(apache_factory):
    s = apache_factory("scgi-origin", "", policies={"site.yaml": POLICY}, files=MAPPERS_FILES,
                       extra_modules=["proxy", "proxy_scgi", "proxy_http", "cgid", "negotiation", "speling", "autoindex"],
                       loglevel="debug", start=False)
    origin = ScgiOrigin(s.htdocs)
    s.conf_snippet = SCGI_CONF.replace("@SCGI@", str(origin.server_address[1]))
    s.write_conf()
    s.self_proxied = ("/perr/",)
    htpasswd(s.root / "htpasswd", {"alice": "a"})
    s.start()
    yield s
    s.stop()
    origin.shutdown()
    origin.server_close()


@pytest.mark.parametrize("target", ["/scgi/redirect", "/scgi/sf/sendfile", "/perr/missing.txt"])
def test_an_origin_naming_a_protected_url_or_file_gets_it_served_to_no_one_else(scgi, target):
    r = scgi.get(target, headers=IMG)
    assert SECRET not in r.content, (r.status_code, scgi.last_access(target))



@pytest.mark.parametrize("target", ["/scgi/redirect", "/perr/missing.txt"])
def test_an_origin_naming_a_protected_url_gets_it_served_to_a_member(scgi, target):
    # the internal redirect and the ErrorDocument are judged on their own URL, with the user
    r = scgi.get(target, headers=IMG, auth=("alice", "a"))
    assert r.content == SECRET, (r.status_code, scgi.last_access(target))


def test_an_x_sendfile_file_without_a_url_is_refused_to_everyone(scgi):
    # ProxySCGISendfile's file sub-request has no URL (r->uri ""; the proxy request has no
    # file directory to derive one from): bad-url, and mod_proxy_scgi answers 500
    mark = scgi.mark()
    r = scgi.get("/scgi/sf/sendfile", headers=IMG, auth=("alice", "a"))
    assert r.status_code == 500 and SECRET not in r.content
    log = scgi.error_log_since(mark)
    assert "reason=bad-url" in log and "(file sub-request of /scgi/sf/sendfile, judged on its own URL)" in log


# ------------------------------------------------------------ mod_lua (a2enmod lua; Debian's apache2 ships it)
LUA_HOOKS = """\
require "apache2"
-- translate_name: /lua/photo is served as /members/secret.jpg (a new URL and its file)
function as_member_url(r)
    if r.uri == "/lua/photo" then
        r.uri = "/members/secret.jpg"
        r.filename = r.document_root .. "/members/secret.jpg"
        return apache2.OK
    end
    return apache2.DECLINED
end
"""

LUA_CONF = MAPPERS_CONF + """\
LuaHookTranslateName "@ROOT@/hooks.lua" as_member_url
"""


@pytest.fixture(scope="module")
def lua(apache_factory):
    s = apache_factory("lua-hooks", LUA_CONF, policies={"site.yaml": POLICY}, files=MAPPERS_FILES,
                       extra_modules=["lua", "cgid", "negotiation", "speling", "autoindex"], loglevel="debug",
                       start=False)
    (s.root / "hooks.lua").write_text(LUA_HOOKS)
    htpasswd(s.root / "htpasswd", {"alice": "a"})
    s.start()
    yield s
    s.stop()


def test_a_lua_translate_name_hook_that_changes_the_url_is_judged_on_it(lua):
    mark = lua.mark()
    assert refused(lua.get("/lua/photo", headers=IMG))
    assert "served URI /members/secret.jpg differs from the request target /lua/photo" in \
        lua.error_log_since(mark)
    r = lua.get("/lua/photo", headers=IMG, auth=("alice", "a"))
    assert r.status_code == 200 and r.content == SECRET


# ------------------------------------------------------------ under `Require not media-guard`
# A request that passed the negation (the blocklist does not list /notlist/secret/: a directory
# has no class) served what httpd looked up for it without authorization — the DirectoryIndex,
# the FallbackResource, a CGI's local Location — also a file the blocklist lists: the fixups
# re-check judged only grants. It now judges the inherited URL under the negation too. Likewise
# the served path of a RewriteRule [PT] or of path info after a file was judged only after a grant.
# test_composition's blocklist, for images only: the directory URL is not listed
BLOCKLIST = COMPOSITION_BLOCKLIST.replace("    path: /notlist/secret/\n",
                                          "    path: /notlist/secret/\n    classes: [image]\n")
assert "classes: [image]" in BLOCKLIST

NEGATED_CONF = """\
MediaGuardPolicy blocklist @POLICIES@/blocklist.yaml
RewriteEngine On
RewriteRule "^/notlist/photo/(\\w+)$" "/notlist/secret/$1.jpg" [PT]
""" + NOTLIST + """\
<Directory "@HTDOCS@/notlist">
    Options +ExecCGI
    AddHandler cgi-script .cgi
</Directory>
<Directory "@HTDOCS@/notlist/secret">
    DirectoryIndex index.jpg
    FallbackResource /notlist/secret/a.jpg
    AcceptPathInfo On
</Directory>
<Directory "@HTDOCS@/notlist/open">
    DirectoryIndex index.jpg
</Directory>
"""

# Under two negations (`Require not` in a <RequireAll> inside <RequireNone>) the line means
# "only what the policy allows": /dbl/hidden/ (a directory: no class) is allowed, its images not
DIRS = """\
version: 1
default: deny
rules:
  - id: dirs
    path: /dbl/
    access: {anonymous: view}
  - id: hidden
    path: /dbl/hidden/
    classes: [image]
    access: {anonymous: none}
"""

DOUBLE_CONF = """\
MediaGuardPolicy dirs @POLICIES@/dirs.yaml
RewriteRule "^/dbl/photo/(\\w+)$" "/dbl/hidden/$1.jpg" [PT]
""" + double_negation("/dbl/", "dirs") + """\
<Directory "@HTDOCS@/dbl/hidden">
    DirectoryIndex index.jpg
</Directory>
"""

BLOCKED_CGI = "#!/bin/sh\nprintf 'Location: /notlist/secret/a.jpg\\n\\n'\n"


@pytest.fixture(scope="module")
def negated(apache_factory):
    s = apache_factory("negated-mappers", NEGATED_CONF + DOUBLE_CONF,
                       policies={"blocklist.yaml": BLOCKLIST, "dirs.yaml": DIRS},
                       files={"notlist/secret/a.jpg": SECRET, "notlist/secret/index.jpg": SECRET,
                              "dbl/hidden/a.jpg": SECRET, "dbl/hidden/index.jpg": SECRET,
                              "notlist/open/index.jpg": PUBLIC_JPG, "notlist/send.cgi": BLOCKED_CGI},
                       extra_modules=["cgid", "rewrite"], start=False)
    os.chmod(s.htdocs / "notlist" / "send.cgi", 0o755)
    s.start()
    yield s
    s.stop()


@pytest.mark.parametrize("target", ["/notlist/secret/a.jpg", "/notlist/secret/", "/notlist/secret/gone.txt",
                                    "/notlist/send.cgi", "/notlist/photo/a", "/notlist/secret/a.jpg/x.txt"])
def test_under_a_negation_a_listed_file_is_not_served_for_another_url(negated, target):
    r = negated.get(target, headers=IMG)
    assert r.status_code == 403 and SECRET not in r.content, (r.status_code, negated.last_access(target))


def test_under_a_negation_an_unlisted_index_is_still_served(negated):
    r = negated.get("/notlist/open/", headers=IMG)
    assert r.status_code == 200 and r.content == PUBLIC_JPG


# Counted as under one negation, the index of /dbl/hidden/ was judged "refused unless the policy
# allows it" the wrong way round and served (review of red team 26b)
@pytest.mark.parametrize("target", ["/dbl/hidden/", "/dbl/hidden/a.jpg", "/dbl/photo/a",
                                    "/dbl/hidden/a.jpg?a;b"])
def test_under_two_negations_a_file_the_policy_refuses_is_not_served(negated, target):
    r = negated.get(target, headers=IMG)
    assert r.status_code == 403 and SECRET not in r.content, (r.status_code, negated.last_access(target))
