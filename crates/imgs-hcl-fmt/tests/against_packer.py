#!/usr/bin/env python3
"""Differential check of imgs-hcl-fmt against `packer fmt` (Packer 1.6.6) on random layouts.

Mutates the spaces, indentation, line ends and comments of the golden inputs and of the HCL2
differential corpus, formats each mutant with Packer and with the `fmt_files` example, and names
every file where the two differ (in output, or in refusing it). Nothing is kept: the golden
corpus is where a case found here goes, recorded by record.sh.

    cargo build -p imgs-hcl-fmt --example fmt_files
    crates/imgs-hcl-fmt/tests/against_packer.py [SEED] [COUNT]
"""
import os, random, re, shutil, subprocess, sys, glob, tempfile
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "../../.."))
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
N = int(sys.argv[2]) if len(sys.argv) > 2 else 300
seeds = []
for pat in [here + "/golden/*.in.pkr.hcl", root + "/tests/differential/hcl/**/*.pkr.hcl"]:
    for p in glob.glob(pat, recursive=True):
        seeds.append(open(p, newline='').read())
def ws():
    return random.choice(["", " ", "  ", "   ", "\t", " \t ", "    "])
def mutate(s):
    out = s
    # With HARSH=1, also characters deleted, doubled or inserted: shapes that may not parse, to
    # compare which inputs each refuses.
    if os.environ.get("HARSH"):
        for _ in range(random.randint(1, 3)):
            if not out:
                break
            i = random.randrange(len(out))
            op = random.random()
            if op < 0.4: out = out[:i] + out[i+1:]
            elif op < 0.7: out = out[:i] + out[i] + out[i:]
            else: out = out[:i] + random.choice(list("{}[](),.=:?!-*\"#$%~<\n ")) + out[i:]
    # whitespace churn
    out = re.sub(r"[ \t]+", lambda m: ws() if random.random() < 0.5 else m.group(0), out)
    # spaces around punctuation
    out = re.sub(r"([=,:?()\[\]{}+*/%<>!.-])", lambda m: (ws() + m.group(1) + ws()) if random.random() < 0.15 else m.group(1), out)
    lines = out.split("\n")
    nl = []
    for ln in lines:
        r = random.random()
        if r < 0.1: ln = ln.lstrip()
        elif r < 0.15: ln = ws() + ln
        if random.random() < 0.08: ln = ln + ws()
        if random.random() < 0.06 and ln.strip() and '"' not in ln and '<<' not in ln: ln = ln + random.choice([" # c", "  // cc", " /* b */", "# x"])
        nl.append(ln)
        if random.random() < 0.05: nl.append(random.choice(["", "  ", "# lone", "/* multi\n line */"]))
    out = "\n".join(nl)
    if random.random() < 0.1: out = out.replace("\n", "\r\n")
    if random.random() < 0.1: out = out + random.choice(["  ", "\t", "\n\n", "   \n  "])
    if random.random() < 0.1: out = out.rstrip("\n")
    return out
work = tempfile.mkdtemp()
a, b = work + "/a", work + "/b"
os.makedirs(a); os.makedirs(b)
for i in range(N):
    s = mutate(random.choice(seeds))
    for d in (a, b):
        open(f"{d}/f{i:04d}.pkr.hcl", "w", newline='').write(s)
    open(f"{work}/f{i:04d}.orig", "w", newline='').write(s)
env = dict(os.environ, CHECKPOINT_DISABLE="1", HOME=work)
pk = subprocess.run(["packer", "fmt", a], capture_output=True, text=True, env=env)
perr = set(re.findall(r"formatting (\S+\.pkr\.hcl)", pk.stdout + pk.stderr))
perr = {os.path.basename(p) for p in perr}
files = sorted(glob.glob(b + "/*.pkr.hcl"))
im = subprocess.run([os.environ.get("CARGO_TARGET_DIR", root + "/target") + "/debug/examples/fmt_files"] + files, capture_output=True, text=True)
ierr = {os.path.basename(l.split()[1]) for l in im.stdout.splitlines() if l.startswith("ERR ")}
bad = 0
for f in files:
    n = os.path.basename(f)
    if (n in perr) != (n in ierr):
        bad += 1
        print("VERDICT", n, "packer-error" if n in perr else "imgs-error")
        continue
    if open(a + "/" + n, newline='').read() != open(f, newline='').read():
        bad += 1
        print("DIFF", n)
print(f"{N} inputs, {len(perr)} packer errors, {bad} mismatches" + (f" (kept in {work})" if bad else ""))
if not bad:
    shutil.rmtree(work)
sys.exit(1 if bad else 0)
