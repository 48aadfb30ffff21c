#!/usr/bin/env bash
# Hand-off vs SO_REUSEPORT for spreading connections over pool workers (issue 4: "choose by
# measurement"). shoutd hands every accepted connection from one accept loop to the workers
# round robin. prototype.patch (against commit 28fcf68) gives each worker its own SO_REUSEPORT
# listener, accepting in its own event loop with the same accept code, when SHOUT_REUSEPORT is
# set; without it the same binary hands off as usual, so both variants are one build.
#
# For each variant, REPEAT times (interleaved), with `shout bench` from this checkout:
#   burst   10,000 connections opened at once, one message each: wall time, server CPU ticks
#   steady  100 connections, open loop 20,000 msgs/s, 64 B: server CPU per message, p99
#   spread  4 connections, closed loop for 2 s: CPU ticks of each worker (who got the work)
#
# Usage: bench/reuseport/run.sh            Environment: REPEAT (default 5)
# Loopback only; every process it starts is stopped at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
repeat=${REPEAT:-5}
base=28fcf68

cd "$repo"
cargo build --release --quiet --bin shout
shout=$repo/target/release/shout
ulimit -n "$(ulimit -Hn)"

source bench/lib.sh
bench_cleanup_extra() { git -C "$repo" worktree remove --force "$work/src" 2>/dev/null || true; }

git worktree add --quiet --detach "$work/src" "$base"
git -C "$work/src" apply "$here/prototype.patch"
cargo build --release --quiet --manifest-path "$work/src/Cargo.toml" --bin shoutd
shoutd=$work/src/target/release/shoutd

worker_ticks() {
  for t in /proc/"$1"/task/*; do
    case $(cat "$t/comm") in worker*) awk '{printf "%d ", $14 + $15}' "$t/stat" ;; esac
  done
}

start() { # variant
  port=$(random_port)
  if [ "$1" = reuseport ]; then
    SHOUT_REUSEPORT=1 "$shoutd" --listen "127.0.0.1:$port" --idle-timeout 0 -q &
  else
    "$shoutd" --listen "127.0.0.1:$port" --idle-timeout 0 -q &
  fi
  server_pid=$!
  wait_for_port "$port"
}

results=$work/results.tsv
: >"$results"
for rep in $(seq "$repeat"); do
  for variant in handoff reuseport; do
    start "$variant"
    c0=$(cpu_ticks "$server_pid")
    t0=$(date +%s.%N)
    "$shout" bench "127.0.0.1:$port" --connections 10000 --messages 10000 \
      --json="$work/burst.json" >/dev/null
    t1=$(date +%s.%N)
    c1=$(cpu_ticks "$server_pid")
    stop_server
    printf 'burst\t%s\t%s\t%s\t%s\n' "$variant" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "$((c1 - c0))" \
      "$work/burst.json" >>"$results"

    start "$variant"
    "$shout" bench "127.0.0.1:$port" --connections 100 --rate 20000 --size 64 --warmup 2s \
      --duration 8s --json="$work/steady-$variant-$rep.json" >/dev/null &
    bench_pid=$!
    sleep 2
    c0=$(cpu_ticks "$server_pid")
    sleep 7
    c1=$(cpu_ticks "$server_pid")
    wait "$bench_pid"
    stop_server
    printf 'steady\t%s\t%s\t%s\t%s\n' "$variant" 7 "$((c1 - c0))" \
      "$work/steady-$variant-$rep.json" >>"$results"

    start "$variant"
    "$shout" bench "127.0.0.1:$port" --connections 4 --duration 2s \
      --json="$work/spread.json" >/dev/null
    printf 'spread\t%s\t%s\t\t\n' "$variant" "$(worker_ticks "$server_pid")" >>"$results"
    stop_server
  done
done

python3 - "$results" "$(getconf CLK_TCK)" <<'PY'
import json, statistics, sys
tck = int(sys.argv[2])
burst, steady, spread = {}, {}, {}
for line in open(sys.argv[1]):
    kind, variant, a, b, path = line.rstrip("\n").split("\t")
    if kind == "burst":
        r = json.load(open(path))
        errors = sum(v for v in r["errors"].values() if isinstance(v, int))
        burst.setdefault(variant, []).append((float(a), int(b) / tck, errors))
    elif kind == "steady":
        r = json.load(open(path))
        cpu = int(b) / tck / (int(a) * r["throughput"]["msgs_per_s"]) * 1e6
        steady.setdefault(variant, []).append((cpu, r["latency_us"]["p99"], sum(v for v in r["errors"].values() if isinstance(v, int))))
    else:
        split = sorted(int(t) for t in a.split())
        share = split[-1] / max(1, sum(split))
        spread.setdefault(variant, []).append(share)
print("| variant | 10k burst wall (s) | burst server CPU (s) | 100 conns CPU/msg (µs) | p99 (µs) | errors | busiest worker's share, 4 conns |")
print("|---|---|---|---|---|---|---|")
for v in ("handoff", "reuseport"):
    med = lambda rows, k: statistics.median(row[k] for row in rows)
    errors = sum(r[2] for r in burst[v]) + sum(r[2] for r in steady[v])
    shares = " ".join(f"{s:.2f}" for s in spread[v])
    print(f"| {v} | {med(burst[v], 0):.3f} | {med(burst[v], 1):.2f} | {med(steady[v], 0):.2f} | "
          f"{med(steady[v], 1):.0f} | {errors} | {shares} |")
print(f"median of {len(burst['handoff'])} runs; shares: one per run, 0.50 = even")
PY
