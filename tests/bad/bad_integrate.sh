#!/usr/bin/env bash
# `slabflow integrate` on bad input, one case per call: exit 2 (3 for a corrupt chunk), exactly
# one `slabflow: error:` line naming the file and the problem, no hang, no output, partial or
# lock file left, every input unchanged.
#   bad_integrate.sh CASE DIR [NP]
source "$(dirname "$0")/../mpi/common.sh"
case_=$1 dir=$(realpath -m "$2") np=${3:-2}
py=/usr/bin/python3
rm -rf "$dir" && mkdir -p "$dir"
cd "$dir"
run() { OMP_NUM_THREADS=2 timeout 120 mpirun -np "$np" --oversubscribe --bind-to none "$SLABFLOW" integrate "$@"; }
# stack NAME [synth options]: a 4-frame 256x240 stack NAME.h5 and NAME.poni
stack() { local n=$1; shift; "$SLABFLOW" synth detector -o "$n.h5" --frames 4 --size 256x240 --seed 3 "$@" >/dev/null; }
need_h5py() { "$py" -c "import h5py" 2>/dev/null || { echo "skip: $py has no h5py"; exit 77; }; }
# image FILE DS H W: an (H,W) float32 dataset written with h5py
image() {
  need_h5py
  "$py" -c "import h5py, numpy as np, sys; h5py.File(sys.argv[1], 'w')[sys.argv[2]] = np.ones((int(sys.argv[3]), int(sys.argv[4])), np.float32)" "$@"
}
# expect_refused CODE MSG ARGS...: the failed-run outcome, no out.h5, inputs unchanged.
expect_refused() {
  local want_code=$1 want_msg=$2 code before; shift 2
  before=$(sf_snapshot .)
  set +e; run "$@" 2> stderr > stdout; code=$?; set -e
  cat stderr >&2
  sf_check_failed_run "$case_" "$code" "$want_code" "$want_msg" stderr out.h5
  [ ! -e out.h5 ] || fail "$case_: out.h5 was written"
  [ "$(sf_snapshot .)" = "$before" ] || fail "$case_: an input file was modified"
  echo "ok: $case_ (np $np) -> exit $code: $(grep '^slabflow: error:' stderr)"
}
# poni FILE: s.poni with the lines that match a sed expression changed
poni_edit() { sed "$1" s.poni > "$2"; }

case "$case_" in
  poni-malformed)   # a value that is not a number
    stack s; poni_edit 's/^Distance: .*/Distance: 0.1.5x/' bad.poni
    expect_refused 2 "bad.poni.*Distance" s.h5 -o out.h5 --poni bad.poni ;;
  poni-incomplete)  # no Distance line
    stack s; poni_edit '/^Distance:/d' bad.poni
    expect_refused 2 "bad.poni.*Distance" s.h5 -o out.h5 --poni bad.poni ;;
  poni-missing-file)
    stack s
    expect_refused 2 "nothere.poni" s.h5 -o out.h5 --poni nothere.poni ;;
  poni-shape)       # the PONI's detector is an Eiger 4M, the frames are 256x240
    stack s
    printf 'poni_version: 2\nDetector: Eiger4M\nDetector_config: {}\nDistance: 0.1\nPoni1: 0.08\nPoni2: 0.08\nRot1: 0\nRot2: 0\nRot3: 0\nWavelength: 1e-10\n' > e4m.poni
    expect_refused 2 "e4m.poni: the detector .*is 2167x2070 but the frames of .*s.h5.* are 256x240" s.h5 -o out.h5 --poni e4m.poni ;;
  mask-shape)
    stack s; image m.h5 /mask 100 100
    expect_refused 2 "m.h5:/mask: the mask is 100x100 but the frames are 256x240" s.h5 -o out.h5 --poni s.poni --mask m.h5:/mask ;;
  dark-shape)
    stack s; image d.h5 /dark 256 241
    expect_refused 2 "d.h5:/dark: the dark is 256x241 but the frames are 256x240" s.h5 -o out.h5 --poni s.poni --dark d.h5:/dark ;;
  flat-missing-ds)
    stack s; image f.h5 /flat 256 240
    expect_refused 2 "f.h5: no dataset /data \(the flat\)" s.h5 -o out.h5 --poni s.poni --flat f.h5 ;;
  2d)               # a single image, not a stack
    stack s; image one.h5 /entry/data/data 256 240
    expect_refused 2 "one.h5.*(2-D|2 dimensions|3-D|\(T,H,W\))" one.h5 -o out.h5 --poni s.poni ;;
  bins0)
    stack s
    expect_refused 2 "--bins.*0" s.h5 -o out.h5 --poni s.poni --bins 0 ;;
  radial-range)     # a q range beyond the detector's
    stack s
    expect_refused 2 "s.h5: the radial or azimuth range selects no pixel" s.h5 -o out.h5 --poni s.poni --radial-range 500:600 ;;
  unit)
    stack s
    expect_refused 2 "--unit.*q_nm" s.h5 -o out.h5 --poni s.poni --unit q_furlong ;;
  no-poni)
    stack s
    expect_refused 2 "no geometry given \(--poni" s.h5 -o out.h5 ;;
  corrupt-chunk)    # bytes inside frame 2's bitshuffle-LZ4 chunk overwritten
    stack s --compression bslz4; need_h5py
    cp s.h5 bad.h5
    "$py" - bad.h5 <<'PY'
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    info = f["/entry/data/data"].id.get_chunk_info(2)
# 4 KiB of 0xff from the middle of the chunk: every LZ4 token there asks for more literals than
# the block holds (a few bytes would only change literal data)
assert info.size > 8192
with open(sys.argv[1], "r+b") as g:
    g.seek(info.byte_offset + info.size // 2)
    g.write(b"\xff" * 4096)
PY
    expect_refused 3 "bad.h5:/entry/data/data: the chunk of frame 2 is corrupt" bad.h5 -o out.h5 --poni s.poni ;;
  *) fail "unknown case $case_" ;;
esac
