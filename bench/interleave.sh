#!/bin/bash
# Runs labelled shell commands round-robin under GNU time and prints, per label, the median and
# range of the wall time and of the CPU time (user + system, every thread), and the largest max
# RSS. CPU time says more than wall time on a machine other work is loading.
#
#   bench/interleave.sh RUNS LABEL 'COMMAND' [LABEL 'COMMAND']...
#
# BEFORE_EACH='COMMAND', if set, runs untimed before every timed command (emptying the
# destinations, say, and `sync -f` of their file system).
set -u
runs=$1
shift
labels=()
commands=()
while [ $# -gt 1 ]; do labels+=("$1"); commands+=("$2"); shift 2; done
results=$(mktemp)
one=$(mktemp)
trap 'rm -f "$results" "$one"' EXIT
for _ in $(seq "$runs"); do
  for i in "${!labels[@]}"; do
    if [ -n "${BEFORE_EACH:-}" ] && ! sh -c "$BEFORE_EACH" > /dev/null 2>&1; then
      echo "failed: $BEFORE_EACH" >&2
      exit 1
    fi
    if ! /usr/bin/time -f "%e %U %S %M" -o "$one" sh -c "${commands[$i]}" > /dev/null 2>&1; then
      echo "${labels[$i]}: failed: ${commands[$i]}" >&2
      exit 1
    fi
    echo "${labels[$i]} $(tail -n 1 "$one")" >> "$results"
  done
done
python3 - "$results" "${labels[@]}" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
for label in sys.argv[2:]:
    mine = [r for r in rows if r[0] == label]
    wall = [float(r[1]) for r in mine]
    cpu = [float(r[2]) + float(r[3]) for r in mine]
    rss = max(int(r[4]) for r in mine) / 1024
    print(f"{label:18s} wall {statistics.median(wall):.2f} s ({min(wall):.2f}-{max(wall):.2f})  cpu {statistics.median(cpu):.2f} s ({min(cpu):.2f}-{max(cpu):.2f})  max RSS {rss:.0f} MiB")
PY
