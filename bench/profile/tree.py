#!/usr/bin/env python3
# bench/profile/tree.py — inclusive CPU per call below one function, from a
# perf recording of a server backend (issue 16).
#
#   perf record -F 2000 --call-graph dwarf,16384 -p <backend pid> -o x.data
#   perf script -i x.data -F comm,tid,ip,sym > x.txt
#   python3 tree.py x.txt privacy_access 2 560
#
# Arguments: the perf script output, the function (its outermost frame in
# each sample), the depth of the tree to print, and the backend's CPU per
# call in us (perf stat, as bench/15_small.sh measures it): every figure is
# that CPU times the share of the samples under the frame.  Frames the
# stripped postgres binary has no symbol for show as ?<address>.
import sys, collections
f, root, depth = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv)>3 else 2
us = float(sys.argv[4]) if len(sys.argv)>4 else 100.0
stacks=[]; cur=[]
for line in open(f):
    line=line.rstrip('\n')
    if not line.strip():
        if cur: stacks.append(cur); cur=[]
        continue
    if not line.startswith('\t') and not line.startswith(' '*8):
        if cur: stacks.append(cur)
        cur=[]; continue
    parts=line.split(None,1)
    sym=parts[1] if len(parts)>1 else parts[0]
    if sym=='[unknown]': sym='?'+parts[0]
    sym=sym.replace(' (inlined)','')
    cur.append(sym)
if cur: stacks.append(cur)
N=len(stacks)
def walk(prefix_filter, level, stks, indent):
    c=collections.Counter()
    sub=collections.defaultdict(list)
    for s in stks:
        # s is callee-first; we want the child frame below the matched frame
        if len(s)==0: c['<self>']+=1; continue
        ch=s[-1]
        c[ch]+=1; sub[ch].append(s[:-1])
    for ch,n in c.most_common(12):
        if n/N*us < 1.0: continue
        print('%s%-40s %6.1f' % (indent, ch[:40], n/N*us))
        if level>1 and ch!='<self>': walk(None, level-1, sub[ch], indent+'  ')
sel=[]
for s in stacks:
    if root in s:
        i=s.index(root)  # deepest? index gives the callee-most occurrence; use outermost
        i=len(s)-1-s[::-1].index(root)
        sel.append(s[:i])
print('total samples',N,'root',root,'incl',len(sel), '%.1f'%(len(sel)/N*us))
walk(None, depth, sel, '  ')
