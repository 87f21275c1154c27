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
    # the spellings named are the ones that reach the ProxyPass prefix: the
    # 'tr:' segment inside the section's parent path, not before it (review4 #4)
    assert ("/origin/private;x/... and /origin/tr:w-1/private/... skip this Require although "
            "the policy judges them as /origin/private/...") in out, out
    assert "/tr:w-1/origin/" not in out, out
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


def test_configtest_names_spellings_that_reach_the_proxied_prefix(narrow):
    """The warning's example spellings are the ones that leak behind ProxyPass "/origin/"."""
    rc, out = narrow.configtest()
    assert rc == 0, out
    for target in ["/origin/private;x/a.jpg", "/origin/tr:w-1/private/a.jpg"]:
        r = narrow.raw(target)
        assert r.status_code == 200 and r.text.strip() == "origin:" + target, target


# review4 #2: a rule path without a trailing slash is the same segment prefix
# as with one (docs/policy.md, "Paths"), not its parent directory.
NOSLASH_POLICY = """\
version: 1
default: deny
rules:
  - {id: photos, path: /photos, access: {anonymous: view}}
  - {id: orig, path: /photos/originals, access: {anonymous: none}}
  - {id: thumbs, path: /thumbs/*.jpg, access: {anonymous: view}}
"""

NOSLASH_CONF = """\
MediaGuardPolicy p @POLICIES@/p.yaml
<Location "/photos">
    Require media-guard p
</Location>
<Location "/photos/">
    Require media-guard p
</Location>
<LocationMatch "^/photos/">
    Require media-guard p
</LocationMatch>
<LocationMatch "^/thumbs/">
    Require media-guard p
</LocationMatch>
"""


def test_configtest_is_quiet_for_a_rule_path_without_trailing_slash(apache_factory):
    s = apache_factory("loc-noslash", NOSLASH_CONF, policies={"p.yaml": NOSLASH_POLICY},
                       start=False)
    rc, out = s.configtest()
    assert rc == 0 and "Syntax OK" in out, out
    assert "skip" not in out and "guards only" not in out, out


# review4 #2: the spellings the warning names are the ones that skip the
# section it is about. httpd's <Location "/photos"> (no final slash) matches
# /photos and /photos/... only, so /photos;x/... skips it; the expression
# "^/clips" is a plain string prefix that /clips;x/... still matches, and
# only a 'tr:' segment before it skips it.
PREFIX_POLICY = """\
version: 1
default: deny
rules:
  - {id: site, path: /, access: {anonymous: view}}
  - {id: photos, path: /photos/, access: {anonymous: none}}
  - {id: clips, path: /clips/, access: {anonymous: none}}
"""

PREFIX_CONF = """\
MediaGuardPolicy p @POLICIES@/p.yaml
ProxyPass "/" "@BACKEND@/"
<Location "/photos">
    Require media-guard p
</Location>
<LocationMatch "^/clips">
    Require media-guard p
</LocationMatch>
"""


@pytest.fixture(scope="module")
def prefix(apache_factory):
    return apache_factory("loc-prefix", PREFIX_CONF, policies={"p.yaml": PREFIX_POLICY},
                          extra_modules=PROXY)


def _judged(srv, target):
    r = srv.raw(target)
    line = srv.last_access('"GET %s ' % target)
    return r.status_code, "mg=- " not in line


def test_configtest_names_only_spellings_that_skip_the_section(prefix):
    rc, out = prefix.configtest()
    assert rc == 0 and "Syntax OK" in out, out
    assert out.count("skip") == 2, out
    assert ("/photos;x/... and /tr:w-1/photos/... skip this Require although the policy "
            "judges them as /photos/...") in out, out
    assert ('guards only <LocationMatch "^/clips">, but the policy\'s rule \'site\' (/) judges '
            "URLs outside it") in out, out
    assert ("/tr:w-1/clips/... skips this Require although the policy judges it as "
            "/clips/...") in out, out
    assert "/clips;x/" not in out, out


@pytest.mark.parametrize("target,judged", [
    ("/photos/a.jpg", True),
    ("/photos;x/a.jpg", False),      # named by the warning for <Location "/photos">
    ("/tr:w-1/photos/a.jpg", False),
    ("/clips/a.jpg", True),
    ("/clips;x/a.jpg", True),        # "^/clips" is a string prefix: not named
    ("/tr:w-1/clips/a.jpg", False),
])
def test_the_named_spellings_are_the_ones_httpd_lets_past(prefix, target, judged):
    status, was_judged = _judged(prefix, target)
    assert was_judged == judged, (target, status)
    assert (status == 403) == judged, (target, status)


# review4 #3: a narrower section nested in a wider one with the same policy
# (e.g. to add an AuthType for one area) is covered by the wider one.
NESTED_POLICY = """\
version: 1
default: deny
roles: [press]
rules:
  - {id: library, path: /media/, access: {anonymous: view}}
  - {id: press, path: /media/press/, access: {anonymous: none, press: view}}
"""

NESTED_CONF = """\
MediaGuardPolicy p @POLICIES@/p.yaml
MediaGuardPolicy same @POLICIES@/p.yaml
MediaGuardPolicy q @POLICIES@/q.yaml
ProxyPass "/media/" "@BACKEND@/media/"
@OUTER@
<Location "/media/press/">
    Require media-guard p
</Location>
@LATER@
"""

OTHER_POLICY = NESTED_POLICY.replace("{anonymous: view}", "{anonymous: download}")
NESTED_FILES = {"p.yaml": NESTED_POLICY, "q.yaml": OTHER_POLICY}
OUTER = '<Location "/media/">\n    Require media-guard %s\n</Location>'


@pytest.mark.parametrize("outer,later", [
    (OUTER % "p", ""),                                            # enclosing, earlier
    ("", OUTER % "p"),                                            # enclosing, later
    ('<Location "/">\n    Require media-guard p\n</Location>', ""),  # the whole URL space
    ('<LocationMatch "^/media/">\n    Require media-guard p\n</LocationMatch>', ""),
    (OUTER % "same", ""),                  # another name for the same policy file
])
def test_configtest_is_quiet_for_a_section_covered_by_a_wider_one(apache_factory, outer, later):
    conf = NESTED_CONF.replace("@OUTER@", outer).replace("@LATER@", later)
    s = apache_factory("loc-nested", conf, policies=NESTED_FILES,
                       extra_modules=PROXY, start=False)
    rc, out = s.configtest()
    assert rc == 0 and "Syntax OK" in out, out
    assert "guards only" not in out, out


@pytest.mark.parametrize("outer", [
    "",                                                                  # nothing wider
    OUTER % "q",                                                         # another policy
    '<Location "/media/">\n    Require all granted\n</Location>',     # not media-guard
    '<Location "/media/">\n <RequireAll>\n  Require all granted\n  Require not media-guard p\n'
    ' </RequireAll>\n</Location>',                                        # negated
    '<LocationMatch "/media/">\n    Require media-guard p\n</LocationMatch>',  # reach unknown
    '<Location "/media/pr">\n    Require media-guard p\n</Location>',  # not the parent
    '<Location "/media/*">\n    Require media-guard p\n</Location>',  # one level only
])
def test_configtest_still_warns_when_no_wider_section_judges_the_spellings(apache_factory,
                                                                          outer):
    conf = NESTED_CONF.replace("@OUTER@", outer).replace("@LATER@", "")
    s = apache_factory("loc-nested-warn", conf, policies=NESTED_FILES,
                       extra_modules=PROXY, start=False)
    rc, out = s.configtest()
    assert rc == 0 and "Syntax OK" in out, out
    assert ('guards only <Location "/media/press/">, but the policy\'s rule \'library\' '
            "(/media/) judges URLs outside it") in out, out
    assert "/media/press;x/... and /media/tr:w-1/press/... skip this Require" in out, out


def test_nested_sections_judge_every_spelling(apache_factory):
    conf = NESTED_CONF.replace("@OUTER@", OUTER % "p").replace("@LATER@", "")
    s = apache_factory("loc-nested-run", conf, policies=NESTED_FILES,
                       extra_modules=PROXY)
    for target in ["/media/press/a.jpg", "/media/press;x/a.jpg", "/media/tr:w-1/press/a.jpg"]:
        r = s.raw(target)
        assert r.status_code == 403, target
        assert "rule=press" in s.last_access(target.split("/")[-2]), target


VHOST_CONF = """\
MediaGuardPolicy p @POLICIES@/p.yaml
ProxyPass "/media/" "@BACKEND@/media/"
@MAIN@
<VirtualHost 127.0.0.1:@PORT@>
    ServerName vhost.test
    @VHOST@
</VirtualHost>
"""

INNER = '<Location "/media/press/">\n    Require media-guard p\n</Location>'


@pytest.mark.parametrize("main,vhost,warns", [
    (OUTER % "p", INNER, False),   # the main server's section applies in every host
    (INNER, OUTER % "p", True),    # a host's section covers only that host
    ("", INNER, True),             # a section in a virtual host is checked too
])
def test_a_covering_section_counts_where_httpd_applies_it(apache_factory, main, vhost, warns):
    conf = VHOST_CONF.replace("@MAIN@", main).replace("@VHOST@", vhost)
    s = apache_factory("loc-vhost", conf, policies={"p.yaml": NESTED_POLICY},
                       extra_modules=PROXY, start=False)
    rc, out = s.configtest()
    assert rc == 0 and "Syntax OK" in out, out
    assert ("guards only <Location \"/media/press/\">" in out) == warns, out
