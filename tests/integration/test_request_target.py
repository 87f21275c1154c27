"""Request targets that are not plain origin-form must be judged on the path
Apache actually serves. Regression for a bypass found in review: the module
looked for "://" anywhere in the target, so `http:/secret.jpg?x=://h/public.jpg`
was judged as /public.jpg while Apache served /secret.jpg."""
import pytest

POLICY = """\
version: 1
default: deny
roles: [subscriber]
rules:
  - id: public
    path: /photos/thumbs/
    access: {anonymous: view}
  - id: originals
    path: /photos/originals/
    access: {anonymous: none, subscriber: download}
"""

CONF = """\
MediaGuardPolicy site @POLICIES@/site.yaml
MediaGuardReasonHeader On
<Location "/photos/">
    Require media-guard site
</Location>
"""

SECRET = b"SECRET-ORIGINAL-BYTES"


@pytest.fixture(scope="module")
def srv(apache_factory):
    s = apache_factory("target", CONF, policies={"site.yaml": POLICY},
                       files={"photos/originals/secret.jpg": SECRET,
                              "photos/thumbs/t.jpg": b"thumb"})
    yield s
    s.stop()


@pytest.mark.parametrize("target", [
    "http:/photos/originals/secret.jpg?x=://h/photos/thumbs/t.jpg",
    "/photos/originals/secret.jpg?x=http://h/photos/thumbs/t.jpg",
    "http:/photos/originals/secret.jpg?u=https://127.0.0.1/photos/thumbs/t.jpg",
    "x-y:/photos/originals/secret.jpg?a=b://h/photos/thumbs/t.jpg",
])
def test_scheme_text_in_query_never_chooses_the_judged_path(srv, target):
    r = srv.raw(target)
    assert SECRET not in r.content
    assert r.status_code in (400, 403)


def test_absolute_form_target_with_real_scheme_is_judged_on_its_own_path(srv):
    r = srv.raw(f"http://127.0.0.1:{srv.port}/photos/originals/secret.jpg?x=://h/photos/thumbs/t.jpg")
    assert r.status_code == 403
    assert SECRET not in r.content
    r = srv.raw(f"http://127.0.0.1:{srv.port}/photos/thumbs/t.jpg")
    assert r.status_code == 200 and r.content == b"thumb"



@pytest.mark.parametrize("target", [
    "http://user@127.0.0.1:{port}/photos/thumbs/t.jpg",
    "http://user:secret@127.0.0.1:{port}/photos/thumbs/t.jpg",
    "http://127.0.0.1@127.0.0.1:{port}/photos/thumbs/t.jpg",
])
def test_absolute_form_with_userinfo_is_refused_by_apache_and_by_mgctl_explain(
        srv, mgctl, tmp_path, target):
    # docs/canonical-urls.md, "The request target": httpd itself answers 400
    # to userinfo in an absolute-form target (RFC 9110 4.2.4); mgctl explain
    # used to strip it and judge the path (allow here), and now refuses it as
    # the module's mg_target_split does where a proxy lets it through.
    t = target.format(port=srv.port)
    r = srv.raw(t)
    assert r.status_code == 400
    assert b"thumb" not in r.content
    pol = tmp_path / "site.yaml"
    pol.write_text(POLICY)
    out = mgctl("explain", "--policy", str(pol), "--format", "json", t)
    assert out.returncode == 0, out.stderr
    assert '"decision":"deny"' in out.stdout and '"reason":"bad-url"' in out.stdout
    assert "userinfo (user@) in an http(s) URL" in out.stdout


def test_absolute_form_with_another_scheme_is_refused_by_apache_and_by_mgctl(
        srv, mgctl, tmp_path):
    t = f"ftp://127.0.0.1:{srv.port}/photos/thumbs/t.jpg"
    r = srv.raw(t)
    assert r.status_code == 400
    assert b"thumb" not in r.content
    pol = tmp_path / "site.yaml"
    pol.write_text(POLICY)
    out = mgctl("explain", "--policy", str(pol), t)
    assert out.returncode == 2 and "http(s)://" in out.stderr


def test_absolute_form_scheme_in_upper_case_is_judged_on_its_path(srv):
    r = srv.raw(f"HTTP://127.0.0.1:{srv.port}/photos/thumbs/t.jpg")
    assert r.status_code == 200 and r.content == b"thumb"
    r = srv.raw(f"HTTP://127.0.0.1:{srv.port}/photos/originals/secret.jpg")
    assert r.status_code == 403 and SECRET not in r.content
