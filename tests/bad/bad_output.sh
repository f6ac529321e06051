#!/usr/bin/env bash
# Output safety, one case per call: an output never replaces an input, one output belongs to
# one job, and a full disk ends the job with exit 3 and one message on every rank count.
# Every case checks that each input file is unchanged (md5 before and after).
#   bad_output.sh CASE DIR [NP]
# Cases named disk-* mount a small tmpfs (root only; skipped with 77 where mounting fails).
source "$(dirname "$0")/../mpi/common.sh"
case_=$1 dir=$(realpath -m "$2") np=${3:-2}
rm -rf "$dir" && mkdir -p "$dir"
cd "$dir"
run() { OMP_NUM_THREADS=1 timeout 120 mpirun -np "$np" --oversubscribe --bind-to none "$SLABFLOW" "$@"; }
video() { "$SLABFLOW" synth video -o "$1" --frames "${2:-12}" --height "${3:-48}" --width "${3:-56}" --seed 2 >/dev/null; }
volumes() { # DIR: an nnU-Net folder with 2 cases of 64x64x32
  "$SLABFLOW" synth volumes -o "$1" --cases 2 --size 64 64 32 --seed 3 >/dev/null
}
# expect_refused CODE MSG OUT CMD...: the failed-run outcome, inputs unchanged, no lock left.
expect_refused() {
  local want_code=$1 want_msg=$2 out=$3 code before; shift 3
  before=$(sf_snapshot .)
  set +e; run "$@" 2> stderr > stdout; code=$?; set -e
  cat stderr >&2
  # (where OUT.partial is itself an input, it must stay: sums checks it)
  sf_check_failed_run "$case_" "$code" "$want_code" "$want_msg" stderr "$out${partial_is_input:+.none}"
  [ "$(sf_snapshot .)" = "$before" ] || fail "$case_: an input file was modified"
  [ ! -e "$out.lock" ] || [ -n "${keep_lock:-}" ] || fail "$case_: $out.lock left behind"
  echo "ok: $case_ -> exit $code: $(grep '^slabflow: error:' stderr)"
}
# mount_small SIZE: a tmpfs at ./disk, unmounted when the script ends.
mount_small() {
  mkdir -p disk
  if ! mount -t tmpfs -o "size=$1" tmpfs disk 2>/dev/null; then
    echo "skip: cannot mount a tmpfs here (needs root)"; exit 77
  fi
  trap 'umount -l "$dir/disk" 2>/dev/null || true' EXIT
}
no_complete_anywhere() { # no file under DIR is a finished result
  local f
  for f in $(find "$1" -type f -name '*.h5*'); do
    [ "$("$SF_H5CHECK" attr "$f" complete 2>/dev/null || echo none)" != 1 ] || fail "$case_: $f has complete=1"
  done
}

case "$case_" in
  # ---- an output never replaces an input ------------------------------------------------
  reg-partial-is-input)   # the input happens to be named OUT.partial
    video out.h5.partial
    cp out.h5.partial keep.h5
    partial_is_input=1 expect_refused 2 "out.h5: the output's temporary file would overwrite the input file .*out.h5.partial" \
      out.h5 register out.h5.partial -o out.h5 --method rigid
    cmp out.h5.partial keep.h5 || fail "$case_: the input changed" ;;
  reg-out-is-reference)   # a previous result used as the reference file, written over
    video in.h5
    run register in.h5 -o prev.h5 --method rigid >/dev/null 2>&1
    expect_refused 2 "prev.h5: the output would overwrite the input file prev.h5:/reference" \
      prev.h5 register in.h5 -o prev.h5 --method rigid --reference-file prev.h5:/reference ;;
  reg-out-links-to-input) # OUT is a symbolic link to the input
    video in.h5; ln -s in.h5 out.h5
    expect_refused 2 "out.h5: the output would overwrite the input file .*in.h5" \
      out.h5 register "$dir/in.h5" -o out.h5 --method rigid ;;
  reg-partial-hardlink)   # OUT.partial is a hard link to the input
    video in.h5; ln in.h5 out.h5.partial
    partial_is_input=1 expect_refused 2 "out.h5: the output's temporary file would overwrite the input file .*in.h5" \
      out.h5 register in.h5 -o out.h5 --method rigid ;;
  slices-out-is-volume)   # one .nii.gz volume, the output named as the volume
    volumes nn; cp nn/imagesTr/case_000_0000.nii.gz vol.nii.gz
    expect_refused 2 "vol.nii.gz: the output would overwrite the input file .*vol.nii.gz" \
      vol.nii.gz slices "$dir/vol.nii.gz" -o "$dir/./vol.nii.gz" ;;
  slices-out-is-h5-volume) # FILE.h5:/dataset input, the output named FILE.h5
    /usr/bin/python3 - <<'EOF'
import h5py, numpy as np
with h5py.File("vol.h5", "w") as f:
    f["image"] = np.arange(16 * 12 * 6, dtype=np.float32).reshape(16, 12, 6)
EOF
    expect_refused 2 "vol.h5: the output would overwrite the input file vol.h5:/image" \
      vol.h5 slices vol.h5:/image -o vol.h5 ;;
  slices-out-is-manifest)
    volumes nn
    printf 'a nn/imagesTr/case_000_0000.nii.gz nn/labelsTr/case_000.nii.gz\n' > list.txt
    expect_refused 2 "list.txt: the output would overwrite the input file .*list.txt" \
      list.txt slices list.txt -o list.txt ;;
  slices-out-is-label)    # a label a manifest names, spelt differently
    volumes nn
    printf 'a nn/imagesTr/case_000_0000.nii.gz nn/labelsTr/case_000.nii.gz\n' > list.txt
    expect_refused 2 "case_000.nii.gz: the output would overwrite the input file .*labelsTr/case_000.nii.gz" \
      nn/imagesTr/../labelsTr/case_000.nii.gz slices list.txt -o nn/imagesTr/../labelsTr/case_000.nii.gz ;;
  slices-partial-is-image) # OUT.partial a symbolic link to an image of an nnU-Net folder
    volumes nn; ln -s nn/imagesTr/case_001_0000.nii.gz out.h5.partial
    partial_is_input=1 expect_refused 2 "out.h5: the output's temporary file would overwrite the input file .*case_001_0000.nii.gz" \
      out.h5 slices nn -o out.h5 ;;

  # ---- one output, one job ------------------------------------------------------------
  second-run)   # a second run on the same output while the first writes is refused at once
    video in.h5 300 128; video other.h5 20 64
    run register in.h5 -o solo.h5 --method flow --quality fast --buffer-size 8 >/dev/null 2>&1
    run register in.h5 -o out.h5 --method flow --quality fast --buffer-size 8 > first.log 2>&1 & first=$!
    for _ in $(seq 200); do [ -e out.h5.partial ] && break; sleep 0.05; done
    [ -e out.h5.partial ] || fail "$case_: the first run did not start"
    start=$(date +%s)
    keep_lock=1 expect_refused 2 "out.h5: another slabflow run is writing this output \(slabflow pid [0-9]+ on " \
      out.h5.second register other.h5 -o out.h5 --method rigid
    [ $(( $(date +%s) - start )) -le 20 ] || fail "$case_: the refusal took too long"
    [ -e out.h5.partial ] || kill -0 "$first" 2>/dev/null || [ -e out.h5 ] || fail "$case_: the first run's file vanished"
    set +e; wait "$first"; code=$?; set -e
    [ "$code" -eq 0 ] || { cat first.log >&2; fail "$case_: the first run failed ($code)"; }
    for ds in /registered /stats/mean_disp /reference; do
      h5diff solo.h5 out.h5 "$ds" >/dev/null || fail "$case_: the first run's $ds differs from a run alone"
    done
    [ "$("$SF_H5CHECK" attr out.h5 complete)" = 1 ] || fail "$case_: the first result is not complete"
    [ ! -e out.h5.lock ] || fail "$case_: the lock outlived the first run"
    echo "ok: $case_: second run refused, first result equal to a run alone" ;;
  stale-lock)   # a run killed with SIGKILL leaves a lock file that does not block the next
    video in.h5 200 96
    OMP_NUM_THREADS=1 "$SLABFLOW" register in.h5 -o out.h5 --method flow --buffer-size 8 >/dev/null 2>&1 & p=$!
    for _ in $(seq 200); do [ -e out.h5.partial ] && break; sleep 0.05; done
    kill -9 "$p"; wait "$p" || true
    [ -e out.h5.lock ] || fail "$case_: no lock file left to test with"
    run register in.h5 -o out.h5 --method rigid > stdout 2> stderr || { cat stderr >&2; fail "$case_: refused after a killed run"; }
    [ "$("$SF_H5CHECK" attr out.h5 complete)" = 1 ] || fail "$case_: not complete"
    echo "ok: $case_: a lock left by a killed run is taken over" ;;

  # ---- full disk ----------------------------------------------------------------------
  disk-small-register)   # no room for the output at all
    video in.h5 40 64; mount_small 512k
    echo "previous result" > disk/out.h5; prev=$(md5sum < disk/out.h5)
    expect_refused 3 "disk/out.h5.partial: not enough disk space for the output: it needs about [0-9.]+ [KMGT]iB, [0-9.]+ ([KMGT]i)?B are free" \
      disk/out.h5 register in.h5 -o disk/out.h5 --method rigid
    [ "$(md5sum < disk/out.h5)" = "$prev" ] || fail "$case_: the previous output was damaged"
    no_complete_anywhere disk ;;
  disk-small-slices)
    volumes nn; mount_small 1m
    expect_refused 3 "disk/out.h5.partial: not enough disk space for the output" \
      disk/out.h5 slices nn -o disk/out.h5 --window 2 --buffer-size 4
    no_complete_anywhere disk ;;
  disk-fills-register)   # the disk fills in the middle of the writes (no blocks reserved)
    video in.h5 40 64; mount_small 1200k
    export SLABFLOW_RESERVE_SPACE=0
    expect_refused 3 "disk/out.h5.partial: writing /registered failed: .*(disk is full|write failed)" \
      disk/out.h5 register in.h5 -o disk/out.h5 --method rigid --buffer-size 8
    no_complete_anywhere disk ;;
  disk-fills-slices)
    volumes nn; mount_small 3m
    export SLABFLOW_RESERVE_SPACE=0
    expect_refused 3 "disk/out.h5.partial: writing /[^ ]+ failed: .*(disk is full|write failed)" \
      disk/out.h5 slices nn -o disk/out.h5 --window 2 --buffer-size 4
    no_complete_anywhere disk ;;
  disk-stall)   # ROMIO leaves a rank inside the collective write after ENOSPC: the others stop the job
    video in.h5 40 64; mount_small 1200k
    export SLABFLOW_RESERVE_SPACE=0 SLABFLOW_IO_STALL_SECONDS=3 OMPI_MCA_io=romio321
    start=$(date +%s)
    expect_refused 3 "disk/out.h5.partial: writing /(registered|reference) (failed|did not complete).*(disk is full|write failed|the other ranks did not return)" \
      disk/out.h5 register in.h5 -o disk/out.h5 --method flow --quality fast --buffer-size 8
    [ $(( $(date +%s) - start )) -le 30 ] || fail "$case_: took more than 30 s"
    no_complete_anywhere disk ;;
  disk-filled-by-others) # blocks reserved at creation: another writer filling the disk later
    video in.h5 200 128   # cannot take them, and the run ends complete and correct
    run register in.h5 -o solo.h5 --method flow --quality fast --buffer-size 8 >/dev/null 2>&1
    mount_small 40m
    run register in.h5 -o disk/out.h5 --method flow --quality fast --buffer-size 8 > run.log 2>&1 & p=$!
    # datasets are allocated at creation: wait for the file to reach its full size
    for _ in $(seq 400); do
      s=$(stat -c %s disk/out.h5.partial 2>/dev/null || echo 0); [ "$s" -gt 6500000 ] && break; sleep 0.05
    done
    fallocate -l $(( $(df --output=avail -B1 disk | tail -1) - 4096 )) disk/filler || true
    [ "$(df --output=avail -B1 disk | tail -1)" -lt 1048576 ] || fail "$case_: could not fill the disk"
    set +e; wait "$p"; code=$?; set -e
    [ "$code" -eq 0 ] || { cat run.log >&2; fail "$case_: exit $code after the disk filled"; }
    for ds in /registered /stats/mean_disp /reference; do
      h5diff solo.h5 disk/out.h5 "$ds" >/dev/null || fail "$case_: $ds differs from a run on a roomy disk"
    done
    echo "ok: $case_: complete and equal after the disk filled" ;;
  no-size-fs)   # a file system that reports no size and cannot fallocate (ramfs): the run goes on
    video in.h5 40 64
    run register in.h5 -o solo.h5 --method rigid >/dev/null 2>&1
    mkdir -p disk
    if ! mount -t ramfs ramfs disk 2>/dev/null; then echo "skip: cannot mount a ramfs here"; exit 77; fi
    trap 'umount -l "$dir/disk" 2>/dev/null || true' EXIT
    run register in.h5 -o disk/out.h5 --method rigid > run.log 2>&1 || { cat run.log >&2; fail "$case_: refused on ramfs"; }
    for ds in /registered /shifts /reference; do
      h5diff solo.h5 disk/out.h5 "$ds" >/dev/null || fail "$case_: $ds differs from a run on a disk"
    done
    echo "ok: $case_: complete and equal on a file system without size or fallocate" ;;
  *) fail "unknown case $case_" ;;
esac
