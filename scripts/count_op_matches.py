#!/usr/bin/env python3
# Counts the files of sim/ whose non-test code matches on an op kind outside the op homes
# (ops/, import/tflite/ops/, ir/op.rs) and on hw::Family outside hw/ and map/family/
# (docs/op_sites.md, "Recount"). Usage: python3 scripts/count_op_matches.py [COMMIT]
# (run in the repository root; without COMMIT: the working tree).
import subprocess, re, sys, os
rev = sys.argv[1] if len(sys.argv) > 1 else None
pat = re.compile(r'\b(Op|BinaryKind|UnaryKind|ReduceKind|PoolKind|Layout|Convert|NormKind|RecurrentKind|ResizeKind|StateAccess)::[A-Z]')
fam = re.compile(r'\bFamily::[A-Z]')
def files():
    if rev:
        out = subprocess.run(['git','ls-tree','-r','--name-only',rev,'sim'],capture_output=True,text=True).stdout.split()
    else:
        out = subprocess.run(['git','ls-files','sim'],capture_output=True,text=True).stdout.split()
    return [f for f in out if f.endswith('.rs')]
def text(f):
    if rev: return subprocess.run(['git','show',f'{rev}:{f}'],capture_output=True,text=True).stdout
    return open(f).read()
home = lambda f: f.startswith('sim/ops/') or f.startswith('sim/import/tflite/ops/') or f == 'sim/ir/op.rs'
opfiles, famfiles = {}, {}
for f in files():
    s = text(f)
    s = s.split('\n#[cfg(test)]')[0]
    lines = s.split('\n')
    hits, fhits = [], []
    for i, l in enumerate(lines):
        code = l.split('//')[0]
        is_pat = ('=>' in code or 'matches!' in code or 'if let' in code or re.match(r'\s*let \w*::', code) or re.match(r'\s*\|', code)
                  or ('let ' in code and 'else' in code))
        if pat.search(code) and is_pat and not re.search(r"Layout::N(chw|hwc)\b", code):
            hits.append(i+1)
        if fam.search(code) and is_pat and 'OpFamily' not in code:
            fhits.append(i+1)
    if hits and not home(f): opfiles[f] = hits
    if fhits and not (f.startswith('sim/hw/') or f.startswith('sim/map/family')): famfiles[f] = fhits
print('op-kind matches outside op homes:', len(opfiles))
for f, h in sorted(opfiles.items()): print('  ', f, len(h), h[:8])
print('Family matches outside hw/ and map/family:', len(famfiles))
for f, h in sorted(famfiles.items()): print('  ', f, len(h), h[:8])
