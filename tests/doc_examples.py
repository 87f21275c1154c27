#!/usr/bin/python3
"""tests/doc_examples.py — what the docs show is what the code has.

1. Every ```yaml policy fragment of docs/policy.md, README.md,
   docs/token-formats.md, docs/token-spec.md and docs/directives.md passes `mgctl validate`
   (warnings allowed) once it is made a whole policy: `version: 1` in front, a
   catch-all rule when it has no `rules:`, a key when it needs one and has
   none, and its key, secret and revocation files made (tests/fuzz/keys'
   vendor secrets, keygen's format for native keys). Whole policies (`version:
   1` first) are test_loader's; test files (`policy:`) policy-tests.md's.
2. Every directive of the module's command table (AP_INIT_* in
   mod_media_guard/) has a `| Syntax |` row in docs/directives.md, every
   row names a directive the module has, and an On/Off directive is a FLAG.
   (The MG log ids, MG plus five digits: tests/logno.sh; mgctl's options: tests/manpage.sh.)
3. Every `$ mgctl ...` transcript of docs/mgctl.md, docs/policy-tests.md,
   policies/README.md and README.md's explain whose policy is one of
   policies/ prints, run in the source directory, what the docs show.
4. README's size of the adversarial corpus is the corpus's.
5. docs/policy-tests.md's test file passes `mgctl test` beside policies/tests/.

Run by `make check` with MGCTL and MG_SRCDIR set; about half a second.
"""

import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MGCTL = os.environ["MGCTL"]
SRC = Path(os.environ["MG_SRCDIR"])
DOCS = ["docs/policy.md", "README.md", "docs/token-formats.md", "docs/token-spec.md", "docs/directives.md"]
# fragments that cannot be made whole here, each with why
SKIP = {
    ("docs/policy.md", "/var/lib/GeoIP/"): "names a MaxMind database this machine need not have",
    ("docs/directives.md", "# prometheus.yml"): "Prometheus' configuration, not a policy",
}
# the vendor secret for a key file, by a word of its name (tests/fuzz/keys)
SECRETS = [("akamai", "fuzz-akamai.secret"), ("cdn", "fuzz-gcp.secret"), ("gcp", "fuzz-gcp.secret"),
           ("cf-", "RSA"), ("cloudfront", "RSA"),
           ("bunny", "fuzz-bunny.secret"), ("lighttpd", "fuzz-lighttpd.secret"),
           ("imagekit", "fuzz-imagekit.secret"), ("nginx", "fuzz-nginx.secret")]

failures = []


def fragments():
    for doc in DOCS:
        text = (SRC / doc).read_text()
        for m in re.finditer(r"```yaml\n(.*?)```", text, re.S):
            body = m.group(1)
            if body.startswith(("version: 1", "policy:")):
                continue
            yield doc, text[:m.start()].count("\n") + 2, body


def whole(body):
    if body.startswith("  - "):  # the items of a list the text names
        keyish = re.search(r"^    (format|file|alg):", body, re.M) and not re.search(r"^    path:", body, re.M)
        body = ("keys:\n" if keyish else "rules:\n") + body
    if not re.search(r"^rules:", body, re.M):
        body += "\nrules:\n  - {id: all, path: /, access: {anonymous: view}}\n"
    if re.search(r"token: required", body) and not re.search(r"^keys:", body, re.M):
        body += "keys:\n  - {id: base, file: keys/base.key}\n"
    return "version: 1\n" + body


def rsa_public_key():
    """CloudFront's rsa-sha1 keys: the AWS SDK's test key that test_fmt_cloudfront.c has."""
    c = (SRC / "tests/unit/test_fmt_cloudfront.c").read_text()
    decl = re.search(r"RUBY_PUB\[\] =(.*?);", c, re.S).group(1)
    return "".join(re.findall(r'"([^"]*)"', decl)).replace("\\n", "\n")


def make_files(body, d):
    for f in re.findall(r"\b(?:file|revocation_file): ([^\s,}#]+)", body):
        p = d / f
        if p.exists():
            continue
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if p.suffix == ".key" and not any(w in p.name for w, _ in SECRETS):
            # keygen's format, without a process per key
            p.write_text("mg-hmac-sha256:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=") + "\n")
            p.chmod(0o600)
        elif p.suffix == ".pub" and not any(w in p.name for w, _ in SECRETS):
            subprocess.run([MGCTL, "keygen", "--id", p.stem, "--alg", "ed25519", "--out", str(p.parent)],
                           check=True, capture_output=True)
        elif p.suffix == ".txt":
            p.write_text("")
        else:
            src = next((s for w, s in SECRETS if w in p.name), "fuzz-nginx.secret")
            if src == "RSA":
                p.write_text(rsa_public_key())
            else:
                shutil.copyfile(SRC / "tests/fuzz/keys" / src, p)
            p.chmod(0o600)


def check_fragments():
    n, jobs = 0, []
    with tempfile.TemporaryDirectory(prefix="mg-doc-examples.") as tmp:
        os.chmod(tmp, 0o700)
        for doc, line, body in fragments():
            why = next((w for (d, s), w in SKIP.items() if d == doc and s in body), None)
            if why:
                print(f"skip: {doc}:{line}: {why}")
                continue
            d = Path(tmp) / f"{Path(doc).stem}-{line}"
            d.mkdir(mode=0o700)
            p = d / "policy.yaml"
            p.write_text(whole(body))
            make_files(p.read_text(), d)
            jobs.append((doc, line, p))
        run = lambda j: subprocess.run([MGCTL, "validate", "-q", str(j[2])], capture_output=True, text=True)
        with ThreadPoolExecutor(4) as pool:
            for (doc, line, _), r in zip(jobs, pool.map(run, jobs)):
                n += 1
                if r.returncode != 0:
                    failures.append(f"{doc}:{line}: mgctl validate refuses the example (exit "
                                    f"{r.returncode}):\n{r.stdout}{r.stderr}")
    print(f"ok: {n} policy fragments validate" if not failures else "")


def check_directives():
    code = {}
    for f in sorted((SRC / "mod_media_guard").glob("*.c")):
        for kind, name in re.findall(r"AP_INIT_([A-Z0-9]+)\(\s*\"(\w+)\"", f.read_text()):
            code[name] = kind
    doc = (SRC / "docs/directives.md").read_text()
    rows = {}
    for row in re.findall(r"^\| (?:Syntax )?\| (.*) \|$", doc, re.M):
        for name, args in re.findall(r"`(MediaGuard\w+)([^`]*)`", row):
            rows[name] = args.strip()
    for name, kind in sorted(code.items()):
        if name not in rows:
            failures.append(f"docs/directives.md has no '| Syntax |' row for {name} (mod_media_guard/)")
        elif (kind == "FLAG") != (rows[name] == "On\\|Off"):
            failures.append(f"docs/directives.md: {name} is AP_INIT_{kind} but its syntax says "
                            f"'{rows[name]}'")
    for name in sorted(set(rows) - set(code)):
        failures.append(f"docs/directives.md documents {name}, which the module does not have")
    if not code:
        failures.append("no AP_INIT_ directive found in mod_media_guard/")
    print(f"ok: {len(code)} directives, each with its Syntax row" if not failures else "")


def transcripts():
    """`$ mgctl ...` and its output in a plain ``` block, and README's explain (a ```sh
    block, then its output in the next block)."""
    for doc in ["docs/mgctl.md", "docs/policy-tests.md", "policies/README.md", "README.md"]:
        text = (SRC / doc).read_text()
        for m in re.finditer(r"```\n(\$ mgctl .*?)```", text, re.S):
            line = text[:m.start()].count("\n") + 2
            for part in re.split(r"^\$ ", m.group(1), flags=re.M)[1:]:
                cmd, _, out = part.partition("\n")
                while cmd.endswith("\\"):
                    more, _, out = out.partition("\n")
                    cmd = cmd[:-1] + " " + more.strip()
                yield doc, line, cmd, out
        for m in re.finditer(r"```sh\n[^`]*?^(mgctl explain [^`]*?)```\n+```\n(.*?)```", text, re.S | re.M):
            cmd = re.sub(r"\\\n\s*", " ", m.group(1)).strip()
            yield doc, text[:m.start(1)].count("\n") + 1, cmd, m.group(2)


def check_transcripts():
    """Those that name only files of the source tree (policies/) run as shown there."""
    n = 0
    mgctl_dir = str(Path(MGCTL).parent)
    env = dict(os.environ, PATH=mgctl_dir + os.pathsep + os.environ.get("PATH", ""))
    runnable = [t for t in transcripts()
            if re.search(r"(^| )-(p|-policy) policies/\S+\.yaml", t[2]) and "\n" not in t[2]]
    run = lambda t: subprocess.run(t[2], shell=True, cwd=SRC, env=env, capture_output=True, text=True)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, runnable))
    for (doc, line, cmd, shown), r in zip(runnable, results):
        got, want = (r.stdout + r.stderr).rstrip("\n"), shown.rstrip("\n")
        head = want.split("\n  ...")[0] if "\n  ..." in want else None
        if got != want and not (head and got.startswith(head)):
            failures.append(f"{doc}:{line}: '{cmd}' prints\n{got}\ninstead of\n{want}")
        n += 1
    print(f"ok: {n} mgctl transcripts print what the docs show" if not failures else "")


def check_counts():
    """The size of the adversarial corpus, as README and its own README give it."""
    n = len(re.findall(r"^- ", (SRC / "tests/adversarial/corpus.yaml").read_text(), re.M))
    for doc, pat in (("README.md", r"adversarial corpus of (\d+) raw requests"),
                     ("tests/adversarial/README.md", r"`corpus.yaml` holds (\d+) requests")):
        m = re.search(pat, (SRC / doc).read_text())
        if not m or int(m.group(1)) != n:
            failures.append(f"{doc} says the adversarial corpus has {m and m.group(1)} requests; "
                            f"tests/adversarial/corpus.yaml has {n}")


def check_test_file():
    """docs/policy-tests.md's test file, beside policies/tests/ (its server_policies
    names a policy of the reader's own), passes mgctl test."""
    text = (SRC / "docs/policy-tests.md").read_text()
    m = re.search(r"```yaml\n(policy: \.\./.*?)```", text, re.S)
    if not m:
        failures.append("docs/policy-tests.md has no test file example (```yaml, policy: ../...)")
        return
    with tempfile.TemporaryDirectory(prefix="mg-doc-testfile.") as tmp:
        shutil.copytree(SRC / "policies", Path(tmp) / "policies")
        f = Path(tmp) / "policies/tests/doc.test.yaml"
        f.write_text(re.sub(r"^server_policies:.*\n", "", m.group(1), flags=re.M))
        r = subprocess.run([MGCTL, "test", str(f)], capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"docs/policy-tests.md's test file fails mgctl test (exit {r.returncode}):\n"
                            f"{r.stdout}{r.stderr}")


check_fragments()
check_directives()
check_transcripts()
check_counts()
check_test_file()
for f in failures:
    print("FAIL: " + f)
sys.exit(1 if failures else 0)
