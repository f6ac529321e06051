#!/usr/bin/env bash
# Prepares, on a build machine with nvcc (no GPU needed), what benchmarks/gpu_check.sh needs on a
# GPU machine that has the CUDA toolkit but none of slabflow's other dependencies and no
# package registry (see shared/notes/cuda.md): the CUDA build's binaries (sm_90 + PTX) and the
# shared libraries they and Open MPI's mpirun/orted/h5dump load, except glibc and CUDA's own
# (libcudart, libcufft: the GPU machine's toolkit provides them), packed as
#   build-gpu-carry/sf-gpu-carry.tar.xz   (git-ignored: build*/; carry it with the run)
# Usage, in the repository root:  bash benchmarks/gpu_carry.sh [BUILD_DIR (build-gpu)]
set -euo pipefail
build=${1:-build-gpu}
root=$(pwd)
stage=$(mktemp -d)
[ -n "${KEEP_STAGE:-}" ] || trap 'rm -rf "$stage"' EXIT
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90
fi
grep -q '^CMAKE_CUDA_COMPILER:[A-Z]*=.*nvcc' "$build/CMakeCache.txt" || { echo "gpu_carry: $build has no CUDA" >&2; exit 2; }
cmake --build "$build" -j"${JOBS:-2}" --target slabflow sf_h5check test_gpu test_gpu_rigid test_rigid_hd test_flow_hd test_gpu_flow_host test_gpu_flow_exact
c="$stage/carry"
mkdir -p "$c/bin" "$c/lib" "$c/usr/bin" "$c/usr/share"
for b in slabflow tests/sf_h5check tests/test_gpu tests/test_gpu_rigid tests/test_rigid_hd tests/test_flow_hd \
  tests/test_gpu_flow_host tests/test_gpu_flow_exact; do
  cp "$build/$b" "$c/bin/"
done
# the device's arithmetic on the CPU (no contraction): gpu.flow's oracle (SLABFLOW_NOCONTRACT)
nc=${build}-nocontract
[ -f "$nc/CMakeCache.txt" ] ||
  cmake -S . -B "$nc" -DCMAKE_BUILD_TYPE=Release -DSF_WITH_CUDA=OFF -DCMAKE_C_FLAGS=-ffp-contract=off
cmake --build "$nc" -j"${JOBS:-2}" --target slabflow
cp "$nc/slabflow" "$c/bin/slabflow-nocontract"
strip --strip-unneeded "$c"/bin/* 2>/dev/null || true
# Open MPI 4 relocated with OPAL_PREFIX=$c/usr: orterun (mpirun), orted, its plugins and help
ompi_lib=$(ompi_info --path libdir --parsable | cut -d: -f3)
pkglib=$(ompi_info --path pkglibdir --parsable | cut -d: -f3)
pkgdata=$(ompi_info --path pkgdatadir --parsable | cut -d: -f3)
orterun=$(readlink -f "$(command -v mpirun)")
cp "$orterun" "$c/usr/bin/orterun"
ln -s orterun "$c/usr/bin/mpirun"
cp "$(command -v orted)" "$c/usr/bin/orted"
cp "$(command -v h5dump)" "$c/usr/bin/h5dump"
mkdir -p "$c$pkglib" "$c$pkgdata"
cp -a "$pkglib"/. "$c$pkglib/"
cp -a "$pkgdata"/. "$c$pkgdata/"
# the shared libraries all of them load, flat in lib/
{ ldd "$c"/bin/* "$c"/usr/bin/* "$c$pkglib"/*.so 2>/dev/null || true; } | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libpthread|libdl|librt|libresolv|ld-linux[^/]*)\.so|libcuda\.so|libcudart|libcufft' |
  while read -r l; do cp -L "$l" "$c/lib/"; done
strip --strip-unneeded "$c"/lib/*.so* 2>/dev/null || true
printf 'ompi_libdir=%s\npkglibdir=%s\npkgdatadir=%s\nbuilt=%s\ncommit=%s\n' "$ompi_lib" "$pkglib" "$pkgdata" \
  "$(date -u +%FT%TZ)" "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" > "$c/CARRY"
du -sh "$c"/* "$c$pkglib" >&2
[ -z "${KEEP_STAGE:-}" ] || { echo "stage: $stage" >&2; exit 0; }
mkdir -p build-gpu-carry
tar -C "$stage" -I 'xz -T0' -cf build-gpu-carry/sf-gpu-carry.tar.xz carry
du -h build-gpu-carry/sf-gpu-carry.tar.xz
echo "gpu_carry: carry build-gpu-carry with the run; benchmarks/gpu_check.sh unpacks it"
