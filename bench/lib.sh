# Shared by the benchmark scripts (source it; it is not run on its own): a scratch directory
# and a server that are cleaned up on exit, servers started on a free loopback port, and
# per-process figures from /proc.
#
# After sourcing: $work is a fresh directory, removed on exit together with $server_pid's
# process; scripts with more to clean up define bench_cleanup_extra.

work=$(mktemp -d)
server_pid=
bench_cleanup_extra() { :; }
bench_cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  bench_cleanup_extra
  rm -rf "$work"
}
trap bench_cleanup EXIT

# A port for a test server: below the ephemeral range (32768+), so no client socket holds it.
random_port() { echo $((20000 + RANDOM % 12000)); }

# Waits until 127.0.0.1:$1 accepts connections (5 s at most; exits the script otherwise).
wait_for_port() {
  for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return; fi
    sleep 0.1
  done
  echo "no server came up on port $1" >&2
  exit 1
}

# Starts server NAME on 127.0.0.1:PORT and waits for it; its pid goes to $server_pid.
# Names: pool, threads (shoutd models), pool1 (pool with one worker), tokio (the baseline).
start_server() { # name port
  case "$1" in
    pool | threads) ./target/release/shoutd --listen "127.0.0.1:$2" --model "$1" --idle-timeout 0 -q & ;;
    pool1) ./target/release/shoutd --listen "127.0.0.1:$2" --workers 1 --idle-timeout 0 -q & ;;
    tokio) bench/tokio-echo/target/release/tokio-echo "127.0.0.1:$2" 2>/dev/null & ;;
    *) echo "unknown server $1" >&2; exit 2 ;;
  esac
  server_pid=$!
  wait_for_port "$2"
}

stop_server() {
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

# CPU time of process $1 so far (user + system), in clock ticks (getconf CLK_TCK per second).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# How many times the threads of process $1 have gone to sleep and been woken (voluntary
# context switches), summed over the threads alive now; threads may come and go while we read.
wakeups() {
  { cat /proc/"$1"/task/*/status 2>/dev/null || true; } |
    awk '/^voluntary_ctxt_switches/ {n += $2} END {print n + 0}'
}

# Resident memory of process $1, KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
