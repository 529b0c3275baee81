#!/usr/bin/env bash
# The long version of FaultInjectionTests (not part of CI): trains a tiny corpus straight once per algorithm, then
# again and again with SIGKILLs at seeded moments (seeded delays across MLE, discriminator pretraining and adversarial
# steps, and kills timed to a checkpoint's temporary file appearing), resuming after each kill with
# `textgan train --resume`. Every finished killed run is compared with the straight one: latest and best checkpoints
# byte for byte, and the recorded history (metrics but throughputs, evaluations, samples, checkpoint rows); the store
# must pass PRAGMA integrity_check and no `.partial` file may be left. Prints the figures for docs/reliability.md.
#
#   swift build -c release --product textgan && scripts/fault-campaign.sh --kills 50 [--seed 22] [--binary PATH]
#
# Needs python3 (to write the corpus) and the sqlite3 command-line shell. A killed process's heartbeat stays fresh for
# up to a minute, and a resume refuses a run that may still be training elsewhere: the script ages the heartbeat in
# the store, as that minute would. Exit status 1 if any figure is short of its total.
set -uo pipefail

kills=50
seed=22
root="$(cd "$(dirname "$0")/.." && pwd)"
binary="$root/.build/release/textgan"
kills_per_run=5
while [ $# -gt 0 ]; do
    case "$1" in
        --kills) kills="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --binary) binary="$2"; shift 2 ;;
        --kills-per-run) kills_per_run="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "fault-campaign: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x "$binary" ] || { echo "fault-campaign: no $binary; run swift build -c release --product textgan first" >&2; exit 2; }
command -v sqlite3 > /dev/null || { echo "fault-campaign: needs the sqlite3 shell" >&2; exit 2; }

work="$(mktemp -d /tmp/textgan-fault-campaign.XXXXXX)"
trap 'rm -rf "$work"' EXIT
db="$work/runs/textgan.sqlite"
RANDOM=$seed

# The corpus of the tests (TinyRun): 240 "the <adjective> <animal> <verb> ." sentences from a fixed LCG.
python3 - "$work/tiny.txt" <<'PY'
import sys
rng = 7
def nxt(n):
    global rng
    rng = (rng * 6364136223846793005 + 1442695040888963407) % (1 << 64)
    return (rng >> 33) % n
a, b, v = ["small", "big", "red", "quiet"], ["cat", "dog", "bird", "fox"], ["runs", "sleeps", "sings", "jumps"]
lines = []
for _ in range(240):
    x = a[nxt(4)]; y = b[nxt(4)]; z = v[nxt(4)]
    lines.append(f"the {x} {y} {z} .")
open(sys.argv[1], "w").write("\n".join(lines))
PY
# Longer than the tests' configs, so that the release binary is killed mid-run rather than after it.
cat > "$work/seqgan.json" <<'JSON'
{"generator": {"embeddingSize": 8, "hiddenSize": 16},
 "discriminator": {"embeddingSize": 8, "widths": [{"width": 2, "filters": 8}, {"width": 3, "filters": 8}]},
 "mle": {"epochs": 8, "batchSize": 16, "logEvery": 5, "evaluateEvery": 1},
 "seqgan": {"discriminatorPretrainRounds": 6, "discriminatorPretrainEpochs": 1, "adversarialSteps": 30,
            "discriminatorRounds": 1, "discriminatorEpochs": 1, "rollouts": 4, "negatives": 64,
            "generatorBatchSize": 16, "evaluateEvery": 3},
 "evaluation": {"bleuSamples": 200}}
JSON
cat > "$work/gumbel.json" <<'JSON'
{"generator": {"embeddingSize": 8, "hiddenSize": 8},
 "discriminator": {"embeddingSize": 8, "widths": [{"width": 2, "filters": 8}]},
 "mle": {"epochs": 6, "batchSize": 16, "logEvery": 5, "evaluateEvery": 2},
 "gumbel": {"adversarialSteps": 40, "discriminatorSteps": 2, "batchSize": 8, "evaluateEvery": 5,
            "maximumInverseTemperature": 10, "annealing": "lin"},
 "evaluation": {"bleuSamples": 50}}
JSON

train() { "$binary" train "$@" --db "$db" --root "$root" --min-examples 16; }
# In the background, the binary itself (not a subshell running a function), so that $! is the process to kill.
common=(--db "$db" --root "$root" --min-examples 16)
history() {
    sqlite3 "$db" "
        SELECT phase, step, phase_step, key, kind, printf('%!.17g', value) FROM metrics
        WHERE run_id = $1 AND key NOT LIKE '%\_per\_s' ESCAPE '\' ORDER BY id;
        SELECT step, phase_step, metric, kind, printf('%!.17g', value), sample_count FROM evaluations WHERE run_id = $1 ORDER BY id;
        SELECT step, phase_step, text FROM samples WHERE run_id = $1 ORDER BY id;
        SELECT step, replace(path, rtrim(path, replace(path, '/', '')), ''), sha256 FROM checkpoints WHERE run_id = $1 ORDER BY id;"
}
partials() { find "$work/runs/$1" -maxdepth 1 -name '.*.partial' | wc -l; }

declare -A reference_run reference_seconds
for algo in seqgan gumbel; do
    start=$(date +%s.%N)
    train "$work/tiny.txt" --algo "$algo" --config "$work/$algo.json" --name "straight-$algo" > "$work/straight-$algo.log" \
        || { echo "fault-campaign: the straight $algo run failed" >&2; exit 1; }
    reference_seconds[$algo]=$(echo "$(date +%s.%N) - $start" | bc)
    reference_run[$algo]=$(sqlite3 "$db" "SELECT max(id) FROM runs")
done

sent=0 landed=0 mid_write=0 write_timed=0 resumes=0 resume_failures=0 runs=0
identical_latest=0 identical_best=0 identical_history=0 integrity_ok=0 integrity_checks=0 orphans=0
while [ "$sent" -lt "$kills" ]; do
    # Two runs of SeqGAN for each Gumbel one.
    algo=$([ $((runs % 3)) -eq 2 ] && echo gumbel || echo seqgan)
    runs=$((runs + 1))
    ref=${reference_run[$algo]}
    "$binary" train "$work/tiny.txt" --algo "$algo" --config "$work/$algo.json" --name "killed-$algo" "${common[@]}" \
        > "$work/killed.log" 2>&1 &
    pid=$!
    id=""
    for _ in $(seq 1 500); do
        id=$(sqlite3 "$db" "SELECT id FROM runs WHERE name = 'killed-$algo' AND id > $ref ORDER BY id DESC LIMIT 1" 2>/dev/null || true)
        [ -n "$id" ] && [ -f "$work/runs/$id/latest.safetensors" ] && break
        sleep 0.01
    done
    finished=0
    for _ in $(seq 1 "$kills_per_run"); do
        [ "$sent" -lt "$kills" ] || break
        if [ $((RANDOM % 3)) -eq 0 ]; then
            # Timed to a checkpoint write: the first temporary file that appears.
            write_timed=$((write_timed + 1))
            python3 - "$work/runs/$id" "$pid" <<'PY'
# inotify (through ctypes): SIGKILL the trainer the moment a checkpoint's temporary file is created, before its
# rename; a polling loop misses the write on a fast disk. Gives up after 10 s or when the process has ended.
import ctypes, os, select, signal, struct, sys, time
directory, pid = sys.argv[1], int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
libc.inotify_add_watch(fd, directory.encode(), 0x100)  # IN_CREATE
deadline = time.time() + 10
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        break
    if not select.select([fd], [], [], 0.02)[0]:
        continue
    data, offset = os.read(fd, 4096), 0
    while offset + 16 <= len(data):
        _, _, _, length = struct.unpack_from("iIII", data, offset)
        name = data[offset + 16:offset + 16 + length].rstrip(b"\0")
        if name.endswith(b".partial"):
            os.kill(pid, signal.SIGKILL)
            sys.exit(0)
        offset += 16 + length
PY
        else
            # A seeded moment within the straight run's duration.
            sleep "$(echo "scale=3; ${reference_seconds[$algo]} * ($RANDOM % 1000) / 1000" | bc)"
        fi
        sent=$((sent + 1))
        kill -9 "$pid" 2> /dev/null || true
        status=0
        wait "$pid" 2> /dev/null || status=$?
        if [ "$status" -eq 137 ]; then
            landed=$((landed + 1))
            [ "$(partials "$id")" -gt 0 ] && mid_write=$((mid_write + 1))
        else
            # The process had ended before the kill: the run finished, or the resume failed.
            finished=1
            [ "$status" -eq 0 ] || grep -q "already finished" "$work/resume.log" 2> /dev/null \
                || { resume_failures=$((resume_failures + 1)); tail -3 "$work/resume.log" >&2; }
            break
        fi
        sqlite3 "$db" "UPDATE runs SET heartbeat_at = '2000-01-01 00:00:00.000' WHERE id = $id"
        resumes=$((resumes + 1))
        "$binary" train --resume "$id" "${common[@]}" > "$work/resume.log" 2>&1 &
        pid=$!
    done
    if [ "$finished" -eq 0 ]; then
        wait "$pid" 2> /dev/null || { grep -q "already finished" "$work/resume.log" || { resume_failures=$((resume_failures + 1)); tail -3 "$work/resume.log" >&2; }; }
    fi
    integrity_checks=$((integrity_checks + 1))
    [ "$(sqlite3 "$db" "PRAGMA integrity_check")" = "ok" ] && integrity_ok=$((integrity_ok + 1))
    orphans=$((orphans + $(partials "$id")))
    cmp -s "$work/runs/$id/latest.safetensors" "$work/runs/$ref/latest.safetensors" && identical_latest=$((identical_latest + 1))
    cmp -s "$work/runs/$id/best.safetensors" "$work/runs/$ref/best.safetensors" && identical_best=$((identical_best + 1))
    if [ "$(history "$id")" = "$(history "$ref")" ]; then
        identical_history=$((identical_history + 1))
    else
        diff <(history "$ref") <(history "$id") | head -5 >&2
    fi
done

echo "fault campaign: $(date -u '+%Y-%m-%d %H:%M UTC'), seed $seed, $binary"
echo "  cpu: $(lscpu | sed -n 's/^Model name: *//p')"
echo "  straight runs: seqgan ${reference_seconds[seqgan]} s, gumbel ${reference_seconds[gumbel]} s"
echo "  kills sent: $sent ($write_timed timed to a checkpoint write), on a live process: $landed, mid-write (temporary file left): $mid_write"
echo "  resumes: $resumes, failed: $resume_failures"
echo "  killed runs: $runs; bit-identical latest.safetensors: $identical_latest/$runs, best.safetensors: $identical_best/$runs"
echo "  identical history (metrics, evaluations, samples, checkpoint rows): $identical_history/$runs"
echo "  PRAGMA integrity_check ok: $integrity_ok/$integrity_checks; orphan .partial files after the last resume: $orphans"
[ "$resume_failures" -eq 0 ] && [ "$identical_latest" -eq "$runs" ] && [ "$identical_best" -eq "$runs" ] \
    && [ "$identical_history" -eq "$runs" ] && [ "$integrity_ok" -eq "$integrity_checks" ] && [ "$orphans" -eq 0 ]
