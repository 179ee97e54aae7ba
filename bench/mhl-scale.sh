#!/usr/bin/env bash
# mhl-verify create on hostile shapes: 200,000 empty files in one folder, and folders nested
# 2,000 deep with one file at the bottom. Peak RSS and wall time from /usr/bin/time -v.
#
#   bench/mhl-scale.sh WORKDIR BINARY [BINARY…] [-n RUNS]
#
# Each binary runs RUNS times (default 3) on each tree, interleaved, a fresh history each time.
set -euo pipefail
work=$1; shift
runs=3
bins=()
while [ $# -gt 0 ]; do
  if [ "$1" = "-n" ]; then runs=$2; shift 2; else bins+=("$1"); shift; fi
done
mkdir -p "$work"
if [ ! -d "$work/flat" ]; then
  mkdir "$work/flat"
  (cd "$work/flat" && seq -f "f%06g" 1 200000 | xargs touch)
fi
if [ ! -d "$work/deep" ]; then
  # 2,000 nested folders: made one level at a time (a path that long is past what mkdir -p takes)
  python3 -c "
import os
os.mkdir('$work/deep'); fd = os.open('$work/deep', os.O_RDONLY)
for i in range(2000):
    os.mkdir('d', dir_fd=fd); n = os.open('d', os.O_RDONLY, dir_fd=fd); os.close(fd); fd = n
w = os.open('x.txt', os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd); os.write(w, b'x'); os.close(w)"
fi
for tree in flat deep; do
  for run in $(seq 1 "$runs"); do
    for bin in "${bins[@]}"; do
      rm -rf "$work/$tree/ascmhl"
      /usr/bin/time -v "$bin" create "$work/$tree" -h xxh128 > /dev/null 2> "$work/time.txt" || true
      rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$work/time.txt")
      wall=$(awk -F': ' '/Elapsed \(wall/ {print $2}' "$work/time.txt")
      echo "$tree run $run $(basename "$bin"): ${rss} KiB max RSS, ${wall} wall"
    done
  done
done
