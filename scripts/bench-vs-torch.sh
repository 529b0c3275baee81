#!/usr/bin/env bash
# Side by side: textgan's `bench` phases against the PyTorch references (../shared/bench/torch_seqgan.py for the
# SeqGAN phases, ../shared/bench/torch_textgans.py for the Transformer's tmle, tgen and trollout) on this machine, in one run, alternating the two per phase so both see the same machine state. Not part of CI.
#
#   scripts/bench-vs-torch.sh [--install] [--threads N] [--repeats N] [--openblas-native] [--bf16] [phase …]
#
#   --install          create the virtual environment ($TORCH_VENV, default ~/venvs/torchbench) and install torch
#                      and numpy from PyPI into it (the default torch wheel is large: ~0.5 GB download, ~5 GB installed)
#   --openblas-native  run textgan with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, so OpenBLAS picks its kernel
#                      for this CPU (the environment's Haswell override halves GEMM speed); PyTorch is not affected
#                      by either variable. Without it both run in the environment as it is. The output says which.
#   --bf16             also run each textgan phase with bf16 products (--precision bf16 --generator-precision bf16:
#                      the discriminator's and the generators' vocabulary products), right after its fp32 run, and
#                      add their times and ratios to the table (bf16 kernel: the process's choice, printed;
#                      TEXTGAN_BF16_KERNEL overrides it)
#   phases             any of mle gen rollout dis nll adv tmle tgen trollout gumbel tgumbel textgan (default: mle gen rollout dis nll)
#
# Prints each tool's JSON line and a table of median times with the ratio torch / textgan (> 1: textgan faster).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${TORCH_VENV:-$HOME/venvs/torchbench}"
threads=2 repeats=3 install=0 native=0 bf16=0 phases=()
while (($#)); do
  case "$1" in
    --install) install=1 ;;
    --threads) threads="$2"; shift ;;
    --repeats) repeats="$2"; shift ;;
    --openblas-native) native=1 ;;
    --bf16) bf16=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    mle|gen|rollout|dis|nll|adv|tmle|tgen|trollout|gumbel|tgumbel|textgan) phases+=("$1") ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
((${#phases[@]})) || phases=(mle gen rollout dis nll)

for reference in ../shared/bench/torch_seqgan.py ../shared/bench/torch_textgans.py; do
  [ -f "$reference" ] || { echo "no PyTorch reference at $reference (../shared beside the checkout)" >&2; exit 1; }
done
if ((install)); then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch numpy
fi
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch" 2>/dev/null || {
  echo "no PyTorch in $venv: run with --install (or set TORCH_VENV)" >&2; exit 1; }

swift build -c release --product textgan >/dev/null
textgan=(.build/release/textgan)
if ((native)); then
  textgan=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .build/release/textgan)
  echo "textgan runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (OpenBLAS's own kernel choice)"
else
  echo "textgan runs with the environment as it is: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}"
fi

results=$(mktemp)
for phase in "${phases[@]}"; do
  # The adversarial epoch takes minutes: one timed run, no warm-up.
  r=$repeats w=1; [ "$phase" = adv ] && r=1 w=0
  reference=../shared/bench/torch_seqgan.py
  torch_phase=("$phase")
  case "$phase" in
    tmle|tgen|trollout|textgan) reference=../shared/bench/torch_textgans.py ;;
    gumbel) reference=../shared/bench/torch_textgans.py torch_phase=(gumbel --generator lstm) ;;
    tgumbel) reference=../shared/bench/torch_textgans.py torch_phase=(gumbel --generator transformer) ;;
  esac
  torch_line=$("$venv/bin/python" "$reference" --phase "${torch_phase[@]}" --threads "$threads" --repeats "$r" --warmup "$w" | tail -n 1)
  ours_line=$("${textgan[@]}" bench "$phase" --threads "$threads" --repeats "$r" --warmup "$w" --format json | tail -n 1)
  bf16_line=null
  if ((bf16)); then
    bf16_line=$("${textgan[@]}" bench "$phase" --threads "$threads" --repeats "$r" --warmup "$w" --precision bf16 \
      --generator-precision bf16 --format json | tail -n 1)
  fi
  echo "torch:   $torch_line"
  echo "textgan: $ours_line"
  ((bf16)) && echo "textgan bf16: $bf16_line"
  printf '%s\t%s\t%s\t%s\n' "$phase" "$torch_line" "$ours_line" "$bf16_line" >> "$results"
done

python3 - "$results" <<'PY'
import json, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
with_bf16 = any(row[3] != "null" for row in rows)
extra = f" {'bf16 s':>10} {'torch/bf16':>11} {'bf16 MiB':>9}" if with_bf16 else ""
print(f"\n{'phase':8} {'torch s':>10} {'textgan s':>10} {'torch/textgan':>14} {'torch MiB':>10} {'textgan MiB':>12}" + extra)
for phase, t, o, b in rows:
    t, o, b = json.loads(t), json.loads(o), json.loads(b)
    tm = t.get("peak_rss_mib", float("nan")); om = o.get("peak_rss_mib", float("nan"))
    line = f"{phase:8} {t['median_s']:10.3f} {o['median_s']:10.3f} {t['median_s'] / o['median_s']:14.2f} {tm:10.0f} {om:12.0f}"
    if b:
        line += f" {b['median_s']:10.3f} {t['median_s'] / b['median_s']:11.2f} {b.get('peak_rss_mib', float('nan')):9.0f}"
    print(line)
PY
rm -f "$results"
