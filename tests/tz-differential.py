#!/usr/bin/python3
"""tests/tz-differential.py — lib/mg_tz.c and the expiry buckets against Python's zoneinfo.

Both read the same TZif files (/usr/share/zoneinfo; CPython's zoneinfo is an independent reader of RFC 8536,
POSIX footer included). For every zone the system has (posix/ and right/ copies aside, see below; posixrules,
localtime and Factory included), instants are taken from zdump(8) (glibc's third reader: every transition, each
tested at -1 s, 0 and +1 s), from a fixed random sample over 1800-2400, and from the far future where only the
footer rule speaks. For each instant:

- the UTC offset and the local wall time (mg_tz_to_local),
- local -> UTC (mg_tz_from_local) of that wall time: the earliest instant that shows it, or, for a wall time that
  does not exist, the end of the gap,
- the expiry buckets (end-of-day, end-of-week, end-of-month): the last second before the first instant after
  "now" whose local date is past the period's last day.

right/ zones count leap seconds in their time_t; the module's clock does not, so they must be refused at load
(every 25th right/ zone; all with --full). Names that are not zones (zone.tab, ../../etc/passwd, directories)
must be refused.
Time-window membership is checked through `mgctl test` (the module's evaluator) in 12 zones with odd rules, around
their transitions, for 8 windows (09:00-17:00, 22:00-06:00 also on Saturdays only, a window inside a gap, ...).

Usage: tz-differential.py [--full] [--probe PATH]. Default (make check): every zone, transitions 2020-2040,
a fixed sample of 12 random instants and 4 far-future ones per zone, buckets at 4 instants per zone: a few
seconds. --full: transitions 1800-2200, 60 random instants, 40 bucket instants per zone (minutes).
Exit 0 when all agree, 1 on a mismatch (each printed), 77 (skipped) without zoneinfo data or zdump.
"""
import datetime as dt
import os
import random
import shutil
import subprocess
import sys
import zoneinfo

ZONEINFO = '/usr/share/zoneinfo'
UTC = dt.timezone.utc
# Python's datetime ends at year 9999; stay well inside it.
T_MIN = int(dt.datetime(1800, 1, 1, tzinfo=UTC).timestamp())
T_MAX = int(dt.datetime(9000, 1, 1, tzinfo=UTC).timestamp())


def zone_names():
    out = []
    for root, dirs, files in os.walk(ZONEINFO):
        rel = os.path.relpath(root, ZONEINFO)
        if rel == '.':
            dirs[:] = [d for d in dirs if d not in ('posix', 'right')]
        for f in files:
            name = f if rel == '.' else rel + '/' + f
            path = os.path.join(ZONEINFO, name)
            try:
                with open(path, 'rb') as fh:
                    if fh.read(4) != b'TZif':
                        continue
            except OSError:
                continue
            out.append(name)
    return sorted(out)


class Probe:
    def __init__(self, path):
        self.p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def batch(self, cmds):
        """Send all commands, read one answer each (the probe answers every line)."""
        data = ''.join(c + '\n' for c in cmds)
        # Write and read in chunks so that neither pipe fills up.
        out = []
        for i in range(0, len(cmds), 2000):
            chunk = cmds[i:i + 2000]
            self.p.stdin.write(''.join(c + '\n' for c in chunk))
            self.p.stdin.flush()
            for _ in chunk:
                out.append(self.p.stdout.readline().rstrip('\n'))
        del data
        return out

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def zdump_transitions(names, lo, hi):
    """{zone: [instants (UTC seconds) at which zdump says its offset or DST flag changes, years lo..hi]}."""
    r = subprocess.run(['zdump', '-v', '-c', '%d,%d' % (lo, hi)] + list(names), capture_output=True, text=True,
                       env=dict(os.environ, TZDIR=ZONEINFO))
    out = {}
    lines = [ln for ln in r.stdout.splitlines() if ' UT = ' in ln]
    for i in range(1, len(lines), 2):
        # "Zone  Sun Mar 29 01:00:00 2026 UT = ..." (the second line of each pair is the new offset)
        name, ut = lines[i].split(' UT = ')[0].split(None, 1)
        try:
            t = dt.datetime.strptime(ut.strip(), '%a %b %d %H:%M:%S %Y').replace(tzinfo=UTC)
        except ValueError:
            continue
        out.setdefault(name, []).append(int(t.timestamp()))
    return out


def local_of(z, t):
    d = dt.datetime.fromtimestamp(t, tz=z)
    off = int(d.utcoffset().total_seconds())
    return off, d


def truth_local(z, t):
    off, d = local_of(z, t)
    return '%d %04d-%02d-%02d %02d:%02d:%02d %d' % (off, d.year, d.month, d.day, d.hour, d.minute, d.second,
                                                    (d.weekday() + 1) % 7)


def segments(z, a, b, step=3 * 3600):
    """Constant-offset pieces [start, end) covering [a, b), found in steps of 3 hours and bisection (no zone
    changes its offset twice within 3 hours)."""
    segs = []
    start = a
    off = local_of(z, a)[0]
    t = a
    while t < b:
        n = min(t + step, b)
        o2 = local_of(z, n)[0] if n < b else off
        if o2 != off:
            lo, hi = t, n  # offset(lo) == off, offset(hi) != off
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if local_of(z, mid)[0] == off:
                    lo = mid
                else:
                    hi = mid
            segs.append((start, hi, off))
            start, off = hi, local_of(z, hi)[0]
            t = hi
            continue
        t = n
    segs.append((start, b, off))
    return segs


def truth_from_local(z, wall, near):
    """Earliest instant whose wall time is `wall` (naive), else the end of the gap that skips it."""
    w = int(wall.replace(tzinfo=UTC).timestamp())
    segs = segments(z, near - 30 * 3600, near + 30 * 3600)
    prev = None
    for a, b, off in segs:
        if prev is not None and prev[1] + prev[2] <= w < a + off:
            return a
        if a <= w - off < b:
            return w - off
        prev = (a, b, off)
    return None


def truth_bucket(z, bucket, now):
    off, d = local_of(z, now)
    day = d.date()
    if bucket == 'end-of-day':
        last = day
    elif bucket == 'end-of-week':
        last = day + dt.timedelta(days=(6 - day.weekday()))
    else:
        nm = dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        last = nm - dt.timedelta(days=1)
    nxt = last + dt.timedelta(days=1)
    midnight = int(dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=UTC).timestamp())
    # an instant whose wall time is past midnight lies after midnight - 26 h (offsets are within +-26 h)
    start = max(now + 1, midnight - 27 * 3600)
    for a, b, o in segments(z, start, midnight + 27 * 3600):
        # within a piece the wall clock runs forward: the first instant on or after midnight local
        t = max(a, midnight - o)
        if t < b:
            return t - 1
    return None


def check_zone(probe, name, rng, full, transitions, problems):
    z = zoneinfo.ZoneInfo(name)
    ans = probe.batch(['Z ' + name])
    if ans[0] != 'ok':
        problems.append('%s: refused: %s' % (name, ans[0]))
        return 0
    instants = set()
    for tr in transitions.get(name, []):
        instants.update((tr - 1, tr, tr + 1))
    for _ in range(60 if full else 12):
        instants.add(rng.randrange(T_MIN, int(dt.datetime(2400, 1, 1, tzinfo=UTC).timestamp())))
    for _ in range(20 if full else 4):
        instants.add(rng.randrange(int(dt.datetime(2400, 1, 1, tzinfo=UTC).timestamp()), T_MAX))
    instants = sorted(t for t in instants if T_MIN <= t < T_MAX)
    got = probe.batch(['L %d' % t for t in instants])
    n = 0
    for t, g in zip(instants, got):
        n += 1
        want = truth_local(z, t)
        if g != want:
            problems.append('%s: local time of %d: ours %s, zoneinfo %s' % (name, t, g, want))
    # local -> UTC of the wall times around transitions (and the sample)
    walls = []
    for t in instants[:: (1 if full else 3)]:
        off, d = local_of(z, t)
        walls.append((t, d.replace(tzinfo=None)))
    got = probe.batch(['F %d %d %d %d %d %d' % (w.year, w.month, w.day, w.hour, w.minute, w.second)
                       for _, w in walls])
    for (t, w), g in zip(walls, got):
        n += 1
        want = truth_from_local(z, w, t)
        if str(want) != g:
            problems.append('%s: UTC of local %s: ours %s, zoneinfo %s' % (name, w, g, want))
    # buckets: at transitions (where days are odd) and at random instants up to 2100
    pts = [t for t in instants if t < 4102444800]
    rng.shuffle(pts)
    pts = pts[: (40 if full else 4)]
    cmds = []
    for t in pts:
        for b in ('end-of-day', 'end-of-week', 'end-of-month'):
            cmds.append((b, t))
    got = probe.batch(['B %s %d' % c for c in cmds])
    for (b, t), g in zip(cmds, got):
        n += 1
        want = truth_bucket(z, b, t)
        if str(want) != g:
            problems.append('%s: %s at %d: ours %s, zoneinfo %s' % (name, b, t, g, want))
        elif want is not None and want < t:
            problems.append('%s: %s at %d: expires %d, before it is made' % (name, b, t, want))
    return n


WINDOW_ZONES = ('Europe/Berlin', 'Europe/Dublin', 'America/New_York', 'America/Santiago', 'America/Nuuk',
                'America/Havana', 'Asia/Jerusalem', 'Asia/Beirut', 'Australia/Lord_Howe', 'Pacific/Apia',
                'Africa/Casablanca', 'Asia/Tehran')
WINDOWS = (('09:00-17:00', None), ('22:00-06:00', None), ('22:00-06:00', 'sat'), ('01:00-03:00', None),
           ('02:00-02:30', None), ('00:00-01:00', 'sun'), ('23:00-24:00', None), ('00:00-24:00', 'sun'))
DAYS = ('sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat')


def window_truth(z, t, hours, day):
    """docs/policy.md "Time windows": local weekday listed, local time of day in [from, to), or wrapping."""
    _, d = local_of(z, t)
    if day is not None and DAYS[(d.weekday() + 1) % 7] != day:
        return False
    m = d.hour * 60 + d.minute
    a, b = (int(x[:2]) * 60 + int(x[3:]) for x in hours.split('-'))
    return a <= m < b if a < b else (m >= a or m < b)


def check_windows(mgctl, rng, full, transitions, problems):
    """Time-window membership through `mgctl test` (the module's evaluator) on the days of DST gaps and overlaps."""
    import tempfile
    lines = ['version: 1', 'name: tzdiff', 'default: deny', 'time_windows:']
    for zi, zone in enumerate(WINDOW_ZONES):
        for wi, (hours, day) in enumerate(WINDOWS):
            lines.append('  w%d-%d: {timezone: %s, hours: ["%s"]%s}' %
                         (zi, wi, zone, hours, ', days: [%s]' % day if day else ''))
    lines.append('rules:')
    for zi, zone in enumerate(WINDOW_ZONES):
        for wi in range(len(WINDOWS)):
            lines.append('  - {id: r%d-%d, path: /w%d-%d/, time: [w%d-%d], access: {anonymous: view}}' %
                         (zi, wi, zi, wi, zi, wi))
    cases = []
    for zi, zone in enumerate(WINDOW_ZONES):
        z = zoneinfo.ZoneInfo(zone)
        trs = [t for t in transitions.get(zone, []) if full or 1577836800 <= t < 1893456000]
        pts = set()
        for tr in trs:
            for k in range(-6, 7):  # every half hour within +-3 h, and +-1 s
                pts.add(tr + k * 1800)
            pts.update((tr - 1, tr + 1))
        for _ in range(50):
            pts.add(rng.randrange(1577836800, 2524608000))
        for t in sorted(pts):
            for wi, (hours, day) in enumerate(WINDOWS):
                cases.append((zi, wi, t, window_truth(z, t, hours, day)))
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, 'p.yaml'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        files = []
        for c0 in range(0, len(cases), 10000):  # a test file is at most 4 MiB
            files.append(os.path.join(d, 'p%d.test.yaml' % c0))
            with open(files[-1], 'w') as f:
                f.write('policy: p.yaml\ntests:\n')
                for i, (zi, wi, t, want) in enumerate(cases[c0:c0 + 10000], c0):
                    f.write('- {name: "%d %s %s%s %d", request: {url: /w%d-%d/a, time: %d}, expect: {decision: %s}}\n'
                            % (i, WINDOW_ZONES[zi], WINDOWS[wi][0], ' ' + WINDOWS[wi][1] if WINDOWS[wi][1] else '',
                               t, zi, wi, t, 'allow' if want else 'deny'))
        r = subprocess.run([mgctl, 'test', '-q'] + files, capture_output=True, text=True)
    if r.returncode == 0 and ('%d passed, 0 failed' % len(cases)) not in r.stdout + r.stderr:
        problems.append('window: mgctl test did not run every case: %s' % (r.stdout + r.stderr).strip()[-300:])
    if r.returncode != 0:
        fails = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
        problems.extend('window: ' + ln for ln in fails[:50])
        if not fails:
            problems.append('window: mgctl test exit %d' % r.returncode)
    return len(cases)


def main():
    full = '--full' in sys.argv
    probe_path = None
    if '--probe' in sys.argv:
        probe_path = sys.argv[sys.argv.index('--probe') + 1]
    if probe_path is None:
        build = os.environ.get('MG_BUILDDIR') or os.path.dirname(os.environ.get('MGCTL', '')) + '/..'
        probe_path = os.path.join(build, 'tests/unit/tz_probe')
    if not os.path.isdir(ZONEINFO) or shutil.which('zdump') is None:
        print('SKIP: no %s or no zdump' % ZONEINFO)
        return 77
    rng = random.Random(20261205)
    probe = Probe(probe_path)
    problems = []
    zones = zone_names()
    n = 0
    transitions = zdump_transitions(zones, *((1800, 2200) if full else (2020, 2040)))
    for name in zones:
        n += check_zone(probe, name, rng, full, transitions, problems)
    nwin = 0
    mgctl = os.environ.get('MGCTL')
    if mgctl:
        nwin = check_windows(mgctl, rng, full, zdump_transitions(WINDOW_ZONES, *((1970, 2100) if full else
                                                                                  (2020, 2030))), problems)
    # right/ zones count leap seconds: refused, never read as if they did not
    right = []
    for root, _, files in os.walk(os.path.join(ZONEINFO, 'right')):
        for f in files:
            right.append(os.path.relpath(os.path.join(root, f), ZONEINFO))
    for name in sorted(right) if full else sorted(right)[::25]:
        a = probe.batch(['Z ' + name])[0]
        if not a.startswith('err ') or 'leap' not in a:
            problems.append('%s: a zone that counts leap seconds must be refused: %s' % (name, a))
    # not zones
    for name in ('../../etc/passwd', 'zone.tab', 'tzdata.zi', 'leapseconds', 'leap-seconds.list', 'Europe',
                 'posix', 'right', 'iso3166.tab'):
        a = probe.batch(['Z ' + name])[0]
        if not a.startswith('err '):
            problems.append('%s: must be refused, got %s' % (name, a))
    probe.close()
    for p in problems[:200]:
        print(p)
    print('%d zones, %d answers compared, %d time-window cases (mgctl test), %d right/ zones refused, '
          '%d mismatches' % (len(zones), n, nwin, len(right) if full else len(right[::25]), len(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
