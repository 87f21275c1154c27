"""The configuration that README.md and the installed media_guard.conf show is
valid Apache configuration, sets what the docs say it sets, and its access-log
format keeps signed links (bearer tokens) out of the access log."""

import re

from conftest import SRCDIR, htpasswd

JPEG = b"\xff\xd8\xff\xe0 shipped"
IMG = {"Accept": "image/webp,*/*", "Sec-Fetch-Mode": "no-cors"}
MEDIA_GUARD_CONF = SRCDIR / "mod_media_guard" / "media_guard.conf"

POLICY = """\
version: 1
default: deny
roles: [staff]
identity:
  users:
    bob: [staff]
rules:
  - id: open
    path: /photos/open/
    access: {anonymous: view}
  - id: staff
    path: /photos/
    access: {anonymous: none, staff: view}
    login: false
    deny: {message: "Staff only"}
"""

FILES = {"photos/open/a.jpg": JPEG, "photos/b.jpg": JPEG}


def _readme_apache_config():
    """The ```apache block of README.md's "Using the module" section."""
    text = (SRCDIR / "README.md").read_text()
    section = text.split("## Using the module", 1)[1]
    return re.search(r"```apache\n(.*?)```", section, re.S).group(1)


def _media_guard_conf_example():
    """The commented example of media_guard.conf ("#   " lines), uncommented."""
    lines = [m.group(1) for m in re.finditer(r"^\s*#   (.*)$", MEDIA_GUARD_CONF.read_text(), re.M)]
    return "\n".join(lines) + "\n"


def _local(conf):
    return (conf.replace("/etc/apache2/media-guard/photos.yaml", "@POLICIES@/photos.yaml")
            .replace("/var/www/html/photos/", "@HTDOCS@/photos/"))


def test_readme_configuration_is_valid_and_sends_the_policys_refusal(apache_factory):
    conf = _readme_apache_config()
    assert "AuthzSendForbiddenOnFailure On" in conf
    s = apache_factory("readme-conf", f'Include "{MEDIA_GUARD_CONF}"\n' + _local(conf) + """
<Location "/photos/">
    AuthType Basic
    AuthName "media"
    AuthBasicProvider file
    AuthUserFile "@ROOT@/htpasswd"
</Location>
""", policies={"photos.yaml": POLICY}, files=FILES, start=False)
    htpasswd(s.root / "htpasswd", {"alice": "alicepw", "bob": "bobpw"})
    rc, out = s.configtest()
    assert rc == 0 and "Syntax OK" in out, out
    s.start()
    try:
        # a signed-in user the policy refuses: the policy's 403 and message, no new prompt
        r = s.get("/photos/b.jpg", headers=IMG, auth=("alice", "alicepw"))
        assert r.status_code == 403 and r.content == b"Staff only"
        assert "WWW-Authenticate" not in r.headers
        assert s.get("/photos/b.jpg", headers=IMG, auth=("bob", "bobpw")).status_code == 200
        # httpd answers TRACE before authorization: TraceEnable Off (issue 14)
        assert "TraceEnable Off" in conf
        assert s.raw("/photos/open/a.jpg", method="TRACE").status_code == 405
    finally:
        s.stop()


def test_media_guard_conf_example_is_valid_configuration(apache_factory):
    example = _media_guard_conf_example()
    assert "Require media-guard photos" in example
    assert "AuthzSendForbiddenOnFailure On" in example
    s = apache_factory("modconf-example", f'Include "{MEDIA_GUARD_CONF}"\n' + _local(example),
                       policies={"photos.yaml": POLICY}, files=FILES, start=False)
    rc, out = s.configtest()
    assert rc == 0 and "Syntax OK" in out, out


def test_media_guard_log_format_keeps_signed_links_out_of_the_access_log(apache_factory):
    s = apache_factory("logformat", f'''Include "{MEDIA_GUARD_CONF}"
MediaGuardPolicy photos @POLICIES@/photos.yaml
CustomLog "@ROOT@/logs/mg.log" media_guard
<Location "/photos/">
    Require media-guard photos
</Location>
''', policies={"photos.yaml": POLICY}, files=FILES)
    try:
        q = "?mg_exp=1900000000&mg_kid=k1&mg_sig=SECRETSIGNATUREOPEN"
        assert s.get("/photos/open/a.jpg" + q, headers=IMG).status_code == 200
        assert s.get("/photos/b.jpg?mg_sig=SECRETSIGNATURECLOSED", headers=IMG).status_code == 403
        s.stop()
        log = (s.root / "logs" / "mg.log").read_text()
        assert ('"GET /photos/open/a.jpg HTTP/1.1" 200 ' in log and
                "mg=allow reason=allowed rule=open policy=photos" in log), log
        assert ('"GET /photos/b.jpg HTTP/1.1" 403 ' in log and
                "mg=auth reason=login-required rule=staff policy=photos" in log), log
        assert "SECRETSIGNATURE" not in log and "mg_sig" not in log, log
    finally:
        s.stop()
