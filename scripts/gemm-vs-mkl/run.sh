#!/usr/bin/env bash
# textgan's GEMM against MKL (PyPI's `mkl` wheel), one thread each, on the shapes the phases use; prints a markdown
# table (docs/performance.md, "MKL against the own kernel"). Not part of CI.
#
#   scripts/gemm-vs-mkl/run.sh [--install]
#
#   --install   create $MKL_VENV (default ~/venvs/mkl) and install the `mkl` wheel into it (~1 GB installed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${MKL_VENV:-$HOME/venvs/mkl}
if [[ ${1:-} == --install ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet mkl
fi
lib=$venv/lib
[[ -e $lib/libmkl_core.so.3 ]] || { echo "gemm-vs-mkl: no MKL in $venv (run with --install, or set MKL_VENV)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc=${CC:-clang}
"$cc" -O3 -fno-math-errno -I"$root/Sources/CKernels/include" -c "$root/Sources/CKernels/gemm.c" -o "$work/gemm.o"
"$cc" -O2 "$here/compare.c" "$work/gemm.o" -o "$work/compare" "$lib/libmkl_intel_lp64.so.3" \
    "$lib/libmkl_sequential.so.3" "$lib/libmkl_core.so.3" -lpthread -lm -ldl -Wl,-rpath,"$lib"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), MKL_CBWR=${MKL_CBWR-AVX512,STRICT}, MKL $(basename "$(ls "$venv"/lib/python3*/site-packages/mkl-*.dist-info -d 2>/dev/null | head -1)" .dist-info)"
# As textgan sets MKL up (Sources/CKernels/mkl.c): strict conditional numerical reproducibility on the AVX-512
# branch, which costs MKL speed on some shapes; an empty MKL_CBWR= measures MKL's default (not reproducible) paths.
MKL_CBWR=${MKL_CBWR-AVX512,STRICT} "$work/compare"
