#!/usr/bin/python3
"""tests/differential/compare.py — compare the decisions of two builds (tests/differential/README.md).

Reads pairs of `mgctl test -f json` outputs (OLD NEW per test file) and the two builds' `mgctl sign` outputs,
and compares per case: decision, access, rule, reason, HTTP status (and the one without
AuthzSendForbiddenOnFailure), login location, deny message and page, download and file name, CORP, and the
canonical path the trace names. Every difference is either explained by an intentional change listed in
tests/differential/known.py (each with the CHANGELOG/docs entry it comes from) or is reported as unexplained;
the exit status is 1 when any difference is unexplained or a test file was refused by one build only.
"""
import argparse
import collections
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import known  # noqa: E402

FIELDS = ["decision", "access", "rule", "reason", "status", "status_without_forbidden_on_failure", "location",
          "message", "page", "download", "filename", "corp"]
OWNS = re.compile(r"^(?:rule '[^']*' owns|no rule owns) (.*?)(?: \(prefix .*| \(glob .*|)$")


def canon_path(dec):
    for line in dec.get("trace") or []:
        m = OWNS.match(line)
        if m:
            return m.group(1)
    return None


def view(case):
    d = case["decision"] or {}
    v = {f: d.get(f) for f in FIELDS}
    v["canonical_path"] = canon_path(d)
    v["url_refused"] = case.get("url_refused")
    return v


def read_requests(path):
    """The requests of a test file gen.py wrote (one case per line, JSON inside): name -> request."""
    reqs = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("  - {name: "):
                continue
            body = line[len("  - {name: "):].rstrip("\n")
            dec = json.JSONDecoder()
            name, end = dec.raw_decode(body)
            req, _ = dec.raw_decode(body, end + len(", request: "))
            reqs[name] = req
    return reqs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pair", nargs=3, action="append", default=[], metavar=("TEST_YAML", "OLD_JSON", "NEW_JSON"))
    ap.add_argument("--single", nargs=2, action="append", default=[], metavar=("TEST_YAML", "NEW_JSON"),
                    help="no old build: hold the new build's decisions to known.check_new only")
    ap.add_argument("--sign", nargs=2, metavar=("OLD_TXT", "NEW_TXT"))
    ap.add_argument("--examples", type=int, default=3, help="examples printed per kind of difference")
    ap.add_argument("--diffs", help="write every difference (one JSON per line) to this file")
    a = ap.parse_args()

    bad = 0
    per_policy = collections.Counter()
    per_kind = collections.Counter()  # policy -> cases, or tag "signed:KID"
    reasons = collections.Counter()  # (policy, the new build's reason)
    explained = collections.Counter()
    unexplained = collections.Counter()
    examples = collections.defaultdict(list)
    out = open(a.diffs, "w") if a.diffs else None

    if a.sign:
        old = open(a.sign[0]).read().splitlines()
        new = open(a.sign[1]).read().splitlines()
        n_same = sum(1 for x, y in zip(old, new) if x == y)
        print("sign: %d links minted by each build, %d identical" % (len(new), n_same))
        for x, y in zip(old, new):
            if x != y:
                bad += 1
                print("  sign differs:\n    old %s\n    new %s" % (x, y))
        if len(old) != len(new):
            bad += 1
            print("  sign: %d lines old, %d new" % (len(old), len(new)))

    for tf, oj, nj in a.pair:
        reqs = read_requests(tf)
        o = json.load(open(oj))
        n = json.load(open(nj))
        if o["invalid_files"] or n["invalid_files"] or o["unreadable_files"] or n["unreadable_files"]:
            msgs = [d["message"][:200] for d in o["diagnostics"] + n["diagnostics"] if d["severity"] == "error"]
            print("REFUSED test file %s: old %d invalid, new %d invalid: %s" % (oj, o["invalid_files"],
                                                                             n["invalid_files"], msgs[:3]))
            bad += 1
            continue
        if len(o["cases"]) != len(n["cases"]):
            print("case count differs in %s: %d vs %d" % (oj, len(o["cases"]), len(n["cases"])))
            bad += 1
            continue
        for co, cn in zip(o["cases"], n["cases"]):
            name = co["name"]
            req = reqs.get(name, {})
            co["request"] = cn["request"] = req
            co["_headers"] = cn["_headers"] = {k.lower(): v for k, v in (req.get("headers") or {}).items()}
            policy = name.split("#", 1)[0]
            label = name.split(" ", 1)[1] if " " in name else "gen"
            kind = label.split(":")[1] if ":" in label else "plain"
            per_policy[policy] += 1
            per_kind[(policy, kind)] += 1
            reasons[(policy, (cn["decision"] or {}).get("reason"))] += 1
            vo, vn = view(co), view(cn)
            complaint = known.check_new(cn, label, req, policy)
            if complaint:
                key = (policy, "NEW BUILD: " + complaint, vo["reason"], vn["reason"], "-")
                unexplained[key] += 1
                if len(examples[key]) < a.examples:
                    examples[key].append((cn["url"], cn.get("method"), {}, (co["decision"] or {}).get("detail"),
                                          (cn["decision"] or {}).get("detail")))
            if vo == vn:
                continue
            changed = sorted(f for f in vo if vo[f] != vn[f])
            why = known.explain(co, cn, vo, vn)
            key = (policy, why or "UNEXPLAINED", vo["reason"], vn["reason"], ",".join(changed))
            if why:
                explained[key] += 1
            else:
                unexplained[key] += 1
            if len(examples[key]) < a.examples:
                examples[key].append((co["url"], co.get("method"), {f: (vo[f], vn[f]) for f in changed},
                                      (co["decision"] or {}).get("detail"), (cn["decision"] or {}).get("detail")))
            if out:
                out.write(json.dumps({"name": name, "url": co["url"], "why": why, "old": vo, "new": vn}) + "\n")

    for tf, nj in a.single:
        reqs = read_requests(tf)
        n = json.load(open(nj))
        if n["invalid_files"] or n["unreadable_files"]:
            print("REFUSED test file %s: %s" % (tf, [d["message"][:200] for d in n["diagnostics"]][:3]))
            bad += 1
            continue
        for cn in n["cases"]:
            name = cn["name"]
            policy = name.split("#", 1)[0]
            label = name.split(" ", 1)[1] if " " in name else "gen"
            per_policy[policy] += 1
            per_kind[(policy, label.split(":")[1] if ":" in label else "plain")] += 1
            reasons[(policy, (cn["decision"] or {}).get("reason"))] += 1
            complaint = known.check_new(cn, label, reqs.get(name, {}), policy)
            if complaint:
                key = (policy, "NEW BUILD: " + complaint, None, (cn["decision"] or {}).get("reason"), "-")
                unexplained[key] += 1
                if len(examples[key]) < a.examples:
                    examples[key].append((cn["url"], cn.get("method"), {}, None, (cn["decision"] or {}).get("detail")))

    total = sum(per_policy.values())
    print("compared %d cases" % total)
    for p, c in sorted(per_policy.items()):
        kinds = ", ".join("%s %d" % (k[1], v) for k, v in sorted(per_kind.items()) if k[0] == p)
        print("  %-16s %8d  (%s)" % (p, c, kinds))
        print("  %-16s %8s  new build's reasons: %s" % ("", "", ", ".join(
            "%s %d" % (k[1], v) for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]) if k[0] == p)))
    print("statements on the new build alone (known.check_new), cases each applied to: %s"
          % (", ".join("%s %d" % kv for kv in sorted(known.CHECKED.items())) or "none"))
    for title, table in (("explained differences", explained), ("UNEXPLAINED differences", unexplained)):
        print("%s: %d" % (title, sum(table.values())))
        for key, c in sorted(table.items(), key=lambda kv: -kv[1]):
            policy, why, ro, rn, changed = key
            print("  %6d  %-14s %s -> %s [%s]  %s" % (c, policy, ro, rn, changed, why))
            for ex in examples[key]:
                print("          e.g. %s %s %s\n               old: %s\n               new: %s"
                      % (ex[1] or "GET", json.dumps(ex[0])[:300], json.dumps(ex[2])[:400], ex[3], ex[4]))
    bad += sum(unexplained.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
