#!/usr/bin/env bash
# End-to-end pipe comparison (issue 11): 256 MiB of random bytes and 256 MiB of Chinese text
# with ASCII punctuation, each streamed through `shout` in pipe mode (stdin -> server ->
# stdout, to /dev/null), against shoutd (pool model, upper mode) and against the tokio echo
# baseline (bench/tokio-echo), on the same data. The baseline uppercases ASCII only; shoutd
# applies full Unicode rules: the comparison is the one the issue asks for.
#
# Runs are interleaved (every server on every data set, then again), REPEAT times; the table
# gives the median MiB/s (input bytes / wall time of the `shout` run) of each server and data
# set, and shoutd's ratio to the baseline.
#
# Usage: bench/pipe.sh [MIB]            default: 256 MiB per data set
# Environment: REPEAT=N (default 5); SERVERS="pool tokio" (default; add `base` with
# BASE_SHOUTD=path/to/another/shoutd to compare a build from before a change); DATA="random
# chinese" to choose a subset. Loopback only; every process it starts is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-256}
repeat=${REPEAT:-5}
servers=${SERVERS:-pool tokio}
datasets=${DATA:-random chinese}

cargo build --release --quiet --bin shoutd --bin shout
cargo build --release --quiet --manifest-path bench/tokio-echo/Cargo.toml

source bench/lib.sh

# The data, written once. Chinese text: runs of CJK ideographs separated by ASCII punctuation,
# spaces and line breaks (4 MiB generated, repeated).
head -c "${mib}M" /dev/urandom >"$work/random"
python3 - "$work/chinese" "$mib" <<'PY'
import random, sys
random.seed(11)
punct = [", ", ". ", "; ", ": ", "!\n", "? ", "\n"]
parts, size = [], 0
while size < 4 << 20:
    run = "".join(chr(random.randrange(0x4E00, 0x9FA6)) for _ in range(random.randrange(4, 20)))
    part = (run + random.choice(punct)).encode()
    parts.append(part)
    size += len(part)
block = b"".join(parts)
total = int(sys.argv[2]) << 20
with open(sys.argv[1], "wb") as f:
    for _ in range(total // len(block)):
        f.write(block)
    f.write(block[: total - f.tell()])
PY

# Starts server NAME on 127.0.0.1:PORT: the names of lib.sh, and `base` (BASE_SHOUTD, pool).
start_pipe_server() { # name port
  if [ "$1" = base ]; then
    "${BASE_SHOUTD:?set BASE_SHOUTD to compare another shoutd}" --listen "127.0.0.1:$2" \
      --model pool --idle-timeout 0 -q &
    server_pid=$!
    wait_for_port "$2"
  else
    start_server "$1" "$2"
  fi
}

results="$work/results.tsv"
: >"$results"
for rep in $(seq "$repeat"); do
  for data in $datasets; do
    for server in $servers; do
      port=$(random_port)
      start_pipe_server "$server" "$port"
      t0=$(date +%s.%N)
      status=0
      ./target/release/shout "127.0.0.1:$port" <"$work/$data" >/dev/null || status=$?
      t1=$(date +%s.%N)
      stop_server
      printf '%s\t%s\t%s\t%s\n' "$data" "$server" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
        "$status" >>"$results"
    done
  done
done

python3 - "$results" "$mib" "$repeat" <<'PY'
import statistics, sys
mib, repeat = int(sys.argv[2]), sys.argv[3]
runs = {}
for line in open(sys.argv[1]):
    data, server, seconds, status = line.split()
    if status != "0":
        print(f"warning: {server} on {data} failed (exit {status})")
        continue
    runs.setdefault((data, server), []).append(mib / float(seconds))
print(f"{mib} MiB per data set through `shout` (pipe mode); median of {repeat} interleaved runs")
print()
print("| data | server | MiB/s (median) | runs | vs tokio |")
print("|---|---|---|---|---|")
for (data, server), rates in sorted(runs.items()):
    med = statistics.median(rates)
    base = runs.get((data, "tokio"))
    ratio = f"{med / statistics.median(base):.2f}x" if base else "-"
    print(f"| {data} | {server} | {med:.0f} | {' '.join(f'{r:.0f}' for r in rates)} | {ratio} |")
PY
