#!/usr/bin/env bash
# textgan's GEMM kernels against MKL (PyPI's `mkl` wheel), OpenBLAS, BLIS and oneDNN (Debian's), one thread each, on
# the shapes the phases use, fp32 and bf16; prints markdown tables (docs/performance.md, "The own kernels against
# MKL, OpenBLAS, BLIS and oneDNN"). A library that is not installed is left out. Not part of CI.
#
#   scripts/gemm-vs-libs/run.sh [--install]
#
#   --install   apt-get install libopenblas-dev libblis-dev libdnnl-dev, and create $MKL_VENV (default ~/venvs/mkl)
#               with the `mkl` wheel in it (~1 GB installed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${MKL_VENV:-$HOME/venvs/mkl}
if [[ ${1:-} == --install ]]; then
    sudo=$([[ $(id -u) == 0 ]] || echo sudo)
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q libopenblas-dev libblis-dev libdnnl-dev
    [[ -e $venv/lib/libmkl_rt.so.3 ]] || { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet mkl; }
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc=${CC:-clang}
objects=()
for source in "$root"/Sources/CKernels/*.c; do
    object=$work/$(basename "$source" .c).o
    "$cc" -O3 -fno-math-errno -I"$root/Sources/CKernels/include" -c "$source" -o "$object"
    objects+=("$object")
done
dnnl=()
[[ -e /usr/include/oneapi/dnnl/dnnl.h ]] && dnnl=(-DHAVE_DNNL -ldnnl)
"$cc" -O2 -I"$root/Sources/CKernels/include" "$here/compare.c" "${objects[@]}" -o "$work/compare" "${dnnl[@]}" \
    -lpthread -lm -ldl
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p') model $(lscpu | sed -n 's/^Model: *//p')"
# One thread for every library: textgan calls a library on one thread and splits a product over its threads itself.
# MKL as textgan sets it up (Sources/CKernels/mkl.c): sequential, strict conditional numerical reproducibility on the
# AVX-512 branch, which costs MKL speed on some shapes; an empty MKL_CBWR= measures MKL's default paths.
MKL_LIB=$venv/lib MKL_CBWR=${MKL_CBWR-AVX512,STRICT} MKL_THREADING_LAYER=SEQUENTIAL MKL_INTERFACE_LAYER=LP64 \
    OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$work/compare"
