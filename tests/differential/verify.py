#!/usr/bin/python3
"""tests/differential/verify.py — `mgctl verify` of two builds on the same signed links (README.md).

Takes a sample of the signed-link cases gen.py wrote for diff-tokens (tampered or not, with their time, client
address and cookie) and runs both builds' `mgctl verify --policy diff-tokens.yaml --now T --ip A [--cookie C]
-f json URL`, one process per link and build, and compares the exit status and every field both print (the new
build's `format` is new in 1.0.0: docs/token-formats.md). Differences are explained by known.explain_verify or
reported as unexplained (exit 1).
"""
import argparse
import collections
import glob
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
import known  # noqa: E402


def verify(mgctl, policy, req, cwd):
    cmd = [mgctl, "verify", "--policy", policy, "--now", str(req.get("time", 0)), "-f", "json"]
    if req.get("ip"):
        cmd += ["--ip", req["ip"]]
    cookie = ((req.get("headers") or {}).get("Cookie"))
    if cookie:
        cmd += ["--cookie", cookie.split("; ")[-1]]
    cmd.append(req["url"])
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        out = {"unparsable": p.stdout[:200]}
    return p.returncode, out, p.stderr.strip()[:200]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="run's work directory (cases/, diff-tokens.yaml)")
    ap.add_argument("--old-mgctl", required=True)
    ap.add_argument("--new-mgctl", required=True)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--examples", type=int, default=3)
    a = ap.parse_args()
    reqs = {}
    for f in sorted(glob.glob(os.path.join(a.work, "cases", "diff-tokens-*.test.yaml"))):
        reqs.update(compare.read_requests(f))
    names = sorted(n for n in reqs if n.count(":") == 2)
    r = random.Random(a.seed)
    sample = r.sample(names, min(a.n, len(names)))
    policy = os.path.join(a.work, "diff-tokens.yaml")
    per_kind = collections.Counter()
    explained = collections.Counter()
    unexplained = collections.Counter()
    examples = collections.defaultdict(list)
    for name in sample:
        req = reqs[name]
        label = name.split(" ", 1)[1]
        per_kind[label.split(":")[1]] += 1
        ro, oo, eo = verify(a.old_mgctl, policy, req, a.work)
        rn, on, en = verify(a.new_mgctl, policy, req, a.work)
        if isinstance(on, dict):
            on.pop("format", None)
        if (ro, oo) == (rn, on):
            continue
        why = known.explain_verify(req, (ro, oo, eo), (rn, on, en))
        key = (why or "UNEXPLAINED", ro, (oo or {}).get("reason"), rn, (on or {}).get("reason"))
        (explained if why else unexplained)[key] += 1
        if len(examples[key]) < a.examples:
            examples[key].append((req, (ro, oo, eo), (rn, on, en)))
    print("verify: %d links checked by both builds (%s)" % (len(sample), ", ".join(
        "%s %d" % kv for kv in sorted(per_kind.items()))))
    for title, table in (("explained verify differences", explained), ("UNEXPLAINED verify differences",
                                                                        unexplained)):
        print("%s: %d" % (title, sum(table.values())))
        for key, c in sorted(table.items(), key=lambda kv: -kv[1]):
            print("  %6d  exit %s %s -> exit %s %s  %s" % (c, key[1], key[2], key[3], key[4], key[0]))
            for req, o, n in examples[key]:
                print("          %s\n            old %s\n            new %s" % (json.dumps(req)[:300], o, n))
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
