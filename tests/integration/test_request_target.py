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
