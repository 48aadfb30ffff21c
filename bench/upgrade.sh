#!/usr/bin/env bash
# Upgrades in place under load, against the plain restart most deployments do, both models:
#
# - "upgrade": shoutd with --pid-file, loaded by `shout bench` (open loop, RATE msgs/s over
#   CONNS connections, --reconnect so a closed connection is reopened and its unanswered
#   messages sent again); every DURATION_S/(N+1) s a SIGUSR2 to the PID in the PID file, waiting
#   for the PID file to name the new process. N upgrades in all.
# - "restart": the same load; N times SIGTERM to shoutd, wait for it to exit, start a new one
#   on the same port (what a supervisor's restart does).
# - "reuseport": the same load, shoutd with --reuse-port; N times start a new shoutd on the same
#   port (a second SO_REUSEPORT socket), wait until it listens (its PID file is written after
#   it binds), then SIGTERM the old one and wait for it to exit (what most zero-downtime
#   deployments do today).
#
# Reported from the bench's JSON: connections refused (failed connects), connection errors
# (resets), mismatches and short answers, connections the server closed (reopened), unsent and
# timed-out messages; p99 and max latency of the seconds in which an upgrade (or restart) was
# under way against the other seconds (steady state: the median p99, and the max).
#
# Usage: bench/upgrade.sh
# Environment: N (5), RATE (2000), CONNS (50), DURATION_S (30), MODELS ("pool threads"),
# KINDS ("upgrade restart reuseport"), BUILD (release; "debug" for a quick look without a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-5}
rate=${RATE:-2000}
conns=${CONNS:-50}
duration=${DURATION_S:-30}
models=${MODELS:-pool threads}
kinds=${KINDS:-upgrade restart reuseport}
build=${BUILD:-release}
if [ "$build" = release ]; then
  cargo build --release --quiet --bin shoutd --bin shout
else
  cargo build --quiet --bin shoutd --bin shout
fi
shoutd=./target/$build/shoutd
shout=./target/$build/shout
source bench/lib.sh
# The process serving at exit (after upgrades it is not $server_pid).
bench_cleanup_extra() { [ -f "$work/pid" ] && kill "$(cat "$work/pid")" 2>/dev/null || true; }

# Starts shoutd (model $1, then more options) on $port with the PID file; sets $server_pid to
# the first process.
start_shoutd() {
  local model=$1
  shift
  "$shoutd" --listen "127.0.0.1:$port" --model "$model" --idle-timeout 0 --pid-file "$work/pid" \
    -q "$@" 2>>"$work/shoutd.log" &
  server_pid=$!
  wait_for_port "$port"
}

# Waits up to 10 s for process $1 to exit.
wait_gone() {
  for _ in $(seq 1000); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.01; done
  echo "shoutd $1 did not stop within 10 s" >&2
  exit 1
}

# The PID in the PID file (empty if none).
pid_now() { cat "$work/pid" 2>/dev/null || true; }

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# One event (upgrade or restart) of kind $1 under model $2; appends "start_ms end_ms" to
# $work/windows.
one_event() {
  local old new start
  old=$(pid_now)
  start=$(now_ms)
  if [ "$1" = upgrade ]; then
    kill -USR2 "$old"
    for _ in $(seq 200); do
      new=$(pid_now)
      [ -n "$new" ] && [ "$new" != "$old" ] && break
      sleep 0.05
    done
    { [ -n "$new" ] && [ "$new" != "$old" ]; } || { echo "upgrade $old did not hand over" >&2; exit 1; }
  elif [ "$1" = reuseport ]; then
    events=$((events + 1))
    local next="$work/pid.$events"
    "$shoutd" --listen "127.0.0.1:$port" --model "$2" --idle-timeout 0 --pid-file "$next" \
      --reuse-port -q 2>>"$work/shoutd.log" &
    for _ in $(seq 200); do [ -s "$next" ] && break; sleep 0.05; done
    [ -s "$next" ] || { echo "the second shoutd did not start" >&2; exit 1; }
    kill -TERM "$old"
    wait_gone "$old"
    cp "$next" "$work/pid"
  else
    kill -TERM "$old"
    wait_gone "$old"
    "$shoutd" --listen "127.0.0.1:$port" --model "$2" --idle-timeout 0 --pid-file "$work/pid" \
      -q 2>>"$work/shoutd.log" &
    wait_for_port "$port"
  fi
  echo "$start $(now_ms)" >>"$work/windows"
}

results="$work/results"
: >"$results"
for model in $models; do
  for kind in $kinds; do
    port=$(random_port)
    : >"$work/windows"
    rm -f "$work/bench.json"
    events=0
    if [ "$kind" = reuseport ]; then start_shoutd "$model" --reuse-port; else start_shoutd "$model"; fi
    bench_start=$(now_ms)
    "$shout" bench -c "$conns" -r "$rate" -d "${duration}s" --warmup 0s --reconnect \
      --json="$work/bench.json" "127.0.0.1:$port" >/dev/null 2>&1 &
    bench_pid=$!
    gap=$(awk -v d="$duration" -v n="$n" 'BEGIN {print d / (n + 1)}')
    for _ in $(seq "$n"); do
      sleep "$gap"
      one_event "$kind" "$model"
    done
    wait "$bench_pid" || true
    kill -TERM "$(pid_now)" 2>/dev/null || true
    sleep 0.5
    [ -s "$work/bench.json" ] || { echo "the $model $kind bench wrote no report" >&2; exit 1; }
    python3 - "$work/bench.json" "$work/windows" "$bench_start" "$model" "$kind" >>"$results" <<'PY'
import json, statistics, sys
report = json.load(open(sys.argv[1]))
windows = [tuple(map(int, l.split())) for l in open(sys.argv[2]) if l.strip()]
start = int(sys.argv[3])
# Seconds of the run (from the bench's start) that overlap an event; the bench's seconds count
# from its own start, a few ms after ours: one second of margin on each side.
busy = set()
for a, b in windows:
    for s in range((a - start) // 1000 - 1, (b - start) // 1000 + 2):
        busy.add(s)
series = [s for s in report["series"] if not s.get("warmup")]
inside = [s for s in series if s["second"] in busy]
outside = [s for s in series if s["second"] not in busy]
def p99(rows): return max((r["p99_us"] for r in rows), default=0)
def mx(rows): return max((r["max_us"] for r in rows), default=0)
steady = statistics.median([r["p99_us"] for r in outside]) if outside else 0
e, c, m = report["errors"], report["connections"], report["messages"]
print("|", sys.argv[4], "|", sys.argv[5], "|", e["connect_failures"], "|", e["connection_errors"],
      "|", e["mismatches"] + e["short_answers"], "|", c["reopened"], "|", m["unsent"] + e["timeouts"],
      "|", f"{steady / 1000:.2f}", "|", f"{mx(outside) / 1000:.2f}",
      "|", f"{p99(inside) / 1000:.2f}", "|", f"{mx(inside) / 1000:.2f}", "|")
PY
    server_pid=
  done
done

echo "N=$n upgrades or restarts, RATE=$rate msgs/s open loop over CONNS=$conns connections, ${duration}s, $build build"
echo
echo "| model | kind | refused | connection errors | wrong or short | closed by server (reopened) | unsent or timed out | steady p99 (ms) | steady max (ms) | p99 in windows (ms) | max in windows (ms) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
cat "$results"
