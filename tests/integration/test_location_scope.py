"""Which URLs a `Require media-guard` in a <Location> sees (review3 #1).

httpd matches <Location>/<LocationMatch> against r->uri, which keeps `;`
parameters and `tr:` segments, while the policy judges the canonical path
without them. A <Location> narrower than the URL space that reaches an origin
is therefore skipped by `/x/private;p/a.jpg` and `/x/tr:w-1/private/a.jpg`,
which the origin may serve as `/x/private/a.jpg`. The documented configuration
guards the whole prefix and lets the policy decide what is public; `apache2 -t`
warns about a <Location> that guards less than its policy has rules for."""

import pytest

POLICY = """\
version: 1
default: deny
roles: [staff]
rules:
  - id: origin-private
    path: /origin/private/
    access: {anonymous: none, staff: view}
  - id: origin-public
    path: /origin/
    access: {anonymous: view}
"""

NARROW_CONF = """\
MediaGuardPolicy site @POLICIES@/site.yaml
ProxyPass "/origin/" "@BACKEND@/origin/"
<Location "/origin/private/">
    Require media-guard site
</Location>
<LocationMatch "^/origin/(secret|hidden)/">
    Require media-guard site
</LocationMatch>
"""

SAFE_CONF = """\
MediaGuardPolicy site @POLICIES@/site.yaml
ProxyPass "/origin/" "@BACKEND@/origin/"
<Location "/origin/">
    Require media-guard site
</Location>
"""

WHOLE_CONF = """\
MediaGuardPolicy site @POLICIES@/site.yaml
ProxyPass "/origin/" "@BACKEND@/origin/"
<Location "/">
    Require media-guard site
</Location>
<LocationMatch "^/">
    Require media-guard site
</LocationMatch>
<Directory "@HTDOCS@/origin">
    Require media-guard site
</Directory>
"""

SPELLINGS = ["/origin/private/a.jpg", "/origin/private;x/a.jpg", "/origin/tr:w-1/private/a.jpg"]
PROXY = ["proxy", "proxy_http"]


@pytest.fixture(scope="module")
def narrow(apache_factory):
    return apache_factory("loc-narrow", NARROW_CONF, policies={"site.yaml": POLICY},
                          extra_modules=PROXY)


@pytest.fixture(scope="module")
def safe(apache_factory):
    return apache_factory("loc-safe", SAFE_CONF, policies={"site.yaml": POLICY},
                          extra_modules=PROXY)


def test_narrow_location_is_skipped_by_parameter_and_transformation_spellings(narrow):
    """The hazard the docs warn about, reproduced: only the plain spelling is judged."""
    r = narrow.raw(SPELLINGS[0])
    assert r.status_code == 403
    for target in SPELLINGS[1:]:
        r = narrow.raw(target)
        assert r.status_code == 200, target
        assert r.text.strip() == "origin:" + target
        line = narrow.last_access(target.split("/")[-2])
        assert "mg=- " in line, line   # no media-guard decision at all


def test_configtest_warns_about_a_location_narrower_than_its_policy(narrow):
    rc, out = narrow.configtest()
    assert rc == 0 and "Syntax OK" in out, out
    lines = narrow.conf_file.read_text().splitlines()
    loc = lines.index('<Location "/origin/private/">') + 2
    match = lines.index('<LocationMatch "^/origin/(secret|hidden)/">') + 2
    assert ('Require media-guard site on line %d of %s guards only <Location "/origin/private/">, '
            "but the policy's rule 'origin-public' (/origin/) judges URLs outside it"
            % (loc, narrow.conf_file)) in out, out
    assert ("/origin/private;x/... and /tr:w-1/origin/private/... skip this Require although "
            "the policy judges them as /origin/private/...") in out, out
    assert ('Require media-guard site on line %d of %s guards only <LocationMatch '
            '"^/origin/(secret|hidden)/">, but the policy\'s rule \'origin-public\''
            % (match, narrow.conf_file)) in out, out
    assert "a URL with a ';' parameter or a 'tr:' segment can skip this Require" in out, out
    assert "docs/directives.md" in out
    assert out.count("skip this Require") == 2, out
    # only `apache2 -t` says so, not every start
    assert "skip this Require" not in narrow.error_log()


@pytest.mark.parametrize("target", SPELLINGS)
def test_guarding_the_parent_prefix_judges_every_spelling(safe, target):
    r = safe.raw(target)
    assert r.status_code == 403, target
    assert not r.text.startswith("origin:")
    assert r.headers["Cache-Control"] == "private, no-store"
    line = safe.last_access(target.split("/")[-2])
    assert "mg=auth" in line and "rule=origin-private" in line, line


def test_guarding_the_parent_prefix_lets_the_policy_serve_the_public_part(safe):
    r = safe.raw("/origin/a.jpg")
    assert r.status_code == 200 and r.text.strip() == "origin:/origin/a.jpg"
    assert "rule=origin-public" in safe.last_access("/origin/a.jpg")


def test_configtest_is_quiet_when_the_location_covers_every_rule(safe):
    rc, out = safe.configtest()
    assert rc == 0 and "Syntax OK" in out, out
    assert "skip this Require" not in out, out


def test_configtest_is_quiet_for_the_whole_url_space_and_directories(apache_factory):
    s = apache_factory("loc-whole", WHOLE_CONF, policies={"site.yaml": POLICY},
                       files={"origin/a.jpg": "x"}, extra_modules=PROXY, start=False)
    rc, out = s.configtest()
    assert rc == 0 and "Syntax OK" in out, out
    assert "skip this Require" not in out, out
