#!/usr/bin/env bash
# Old build against new build: runs `register` (rigid and flow; one and two channels; uint16
# and float32) and `slices` with both binaries on the same generated inputs at 2 ranks and
# compares every dataset byte for byte, and every attribute but the provenance ones.
#   benchmarks/same_bytes.sh OLD_SLABFLOW NEW_SLABFLOW [WORKDIR]
# e.g. git worktree add /tmp/old 8d53fea && cmake -S /tmp/old -B /tmp/old/build
#      -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/old/build -j
#      && benchmarks/same_bytes.sh /tmp/old/build/slabflow build/slabflow
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2") dir=${3:-$(mktemp -d)}
py=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 SLABFLOW_PROGRESS_SECONDS=0 OMP_NUM_THREADS=1
mkdir -p "$dir" && cd "$dir"
"$new" synth video -o v1.h5 --frames 60 --height 96 --width 112 --motion nonrigid --seed 4 >/dev/null
"$new" synth video -o v2.h5 --frames 40 --height 96 --width 96 --channels 2 --seed 5 >/dev/null
"$new" synth volumes -o nn --cases 3 --size 40 36 24 --seed 3 >/dev/null
$py -c "
import h5py, numpy as np
with h5py.File('v1.h5') as f: d = f['data'][:]
with h5py.File('vf.h5', 'w') as g: g['data'] = d.astype(np.float32) * 0.01"
runs=("rigid:register v1.h5 --method rigid"
      "flow:register v1.h5 --method flow --quality fast --save-flow --save-valid"
      "flow2:register v2.h5 --method flow --quality fast"
      "flowf:register vf.h5 --method flow --quality balanced"
      "rigid2:register v2.h5 --method rigid"
      "slices:slices nn --window 2 --clip-percentiles 1 99 --split 0.5,0.25,0.25 --buffer-size 7")
status=0
for r in "${runs[@]}"; do
  name=${r%%:*}; read -r -a args <<< "${r#*:}"
  for b in old new; do
    bin=$old; [ $b = new ] && bin=$new
    rm -f "$b-$name.h5"
    mpirun -np 2 --oversubscribe --bind-to none "$bin" "${args[@]}" -o "$b-$name.h5" >/dev/null
  done
  $py - "old-$name.h5" "new-$name.h5" <<'PY' || status=1
import h5py, sys, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
def dsets(f):
    out = []
    f.visit(lambda n: out.append(n) if isinstance(f[n], h5py.Dataset) else None)
    return out
na, nb = dsets(a), dsets(b)
bad = sorted(set(na) ^ set(nb))
bad += [n for n in na if n in b and (a[n].dtype != b[n].dtype or a[n][()].tobytes() != b[n][()].tobytes())]
prov = ('command', 'elapsed', 'version', 'time', 'seconds', 'host', 'date', 'ranks', 'threads', 'backend')
def cmp_attrs(n, oa, ob):
    for k, v in oa.attrs.items():
        if any(s in k for s in prov): continue
        if k not in ob.attrs or np.asarray(v).tobytes() != np.asarray(ob.attrs[k]).tobytes():
            bad.append(n + '@' + k)
cmp_attrs('/', a, b)
a.visititems(lambda n, o: cmp_attrs(n, o, b[n]) if n in b else None)
print('%-8s %2d datasets: %s' % (sys.argv[2][4:-3], len(na), 'same bytes' if not bad else 'DIFFER: %s' % bad))
sys.exit(1 if bad else 0)
PY
done
exit $status
