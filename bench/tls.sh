#!/usr/bin/env bash
# TLS against plaintext shoutd, on the same run (release build, loopback, certificates made
# here with openssl: an ECDSA P-256 CA and server certificate, as in docs/server.md, "TLS"):
#
# 1. Server CPU per message, pool model, 100 connections, open loop at RATE msgs/s with 64-byte
#    messages, TLS and plaintext interleaved: server CPU time (/proc/PID/stat) over the
#    measured window divided by the messages measured; the ratio TLS / plaintext.
# 2. Handshakes per second, both models: HS_CONNS connections opened at once, each sending one
#    message (shout bench -c N -n N --tls-ca ...); the bench's handshake rate (handshakes over
#    the time from the first handshake's start to the last one's end), its handshake latency
#    (from the TCP connection established to the handshake complete), and the server's CPU
#    time per handshake over the whole run (the one message each included). The client does
#    its half of every handshake on the same cores, so the rate is a floor for the server.
# 3. Server RSS per idle connection, pool model, IDLE_CONNS connections (opened at
#    CONNECT_RATE a second, then one message a second in all, so they are idle): VmRSS once
#    every connection is open minus VmRSS before, divided by the connections; TLS and plaintext.
#
# Usage: bench/tls.sh   (shoutd's own log, such as the port probe's aborted handshake, goes to a scratch file)
# Environment: RATE (20000), DURATION_S (10), REPEAT (3; the median is reported), HS_CONNS
# (1000), IDLE_CONNS (10000), CONNECT_RATE (2000), PARTS ("cpu handshakes rss"), SHOUTD (the
# server binary, ./target/release/shoutd; another build's, to compare two builds), MODELS
# ("pool"; the models whose idle memory is measured).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${RATE:-20000}
duration=${DURATION_S:-10}
repeat=${REPEAT:-3}
hs_conns=${HS_CONNS:-1000}
idle_conns=${IDLE_CONNS:-10000}
connect_rate=${CONNECT_RATE:-2000}
parts=${PARTS:-cpu handshakes rss}
shoutd_bin=${SHOUTD:-./target/release/shoutd}
rss_models=${MODELS:-pool}

cargo build --release --quiet --bin shoutd --bin shout
ulimit -n "$(ulimit -Hn)"

source bench/lib.sh
tck=$(getconf CLK_TCK)

# A CA and a server certificate for 127.0.0.1 signed by it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=shout bench CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -CAcreateserial -days 2 -out "$work/server.pem" \
  -extfile <(printf "subjectAltName=DNS:localhost,IP:127.0.0.1") 2>/dev/null

# Starts shoutd with MODEL on PORT, with TLS if KIND is tls; its pid goes to $server_pid.
start_shoutd() { # model port kind
  local args=(--listen "127.0.0.1:$2" --model "$1" --idle-timeout 0 --backlog 4096 -q)
  [ "$3" = tls ] && args+=(--tls-cert "$work/server.pem" --tls-key "$work/server.key")
  "$shoutd_bin" "${args[@]}" 2>>"$work/shoutd.log" &
  server_pid=$!
  wait_for_port "$2"
}

# The bench's TLS options for KIND.
tls_opts() { [ "$1" = tls ] && echo "--tls-ca $work/ca.pem" || true; }

results="$work/results.tsv"
: >"$results"
for rep in $(seq "$repeat"); do
  if [[ " $parts " == *" cpu "* ]]; then
    for kind in plain tls; do
      port=$(random_port)
      start_shoutd pool "$port" "$kind"
      json="$work/cpu-$kind-$rep.json"
      # shellcheck disable=SC2046
      ./target/release/shout bench "127.0.0.1:$port" $(tls_opts "$kind") --connections 100 \
        --rate "$rate" --size 64 --warmup 3s --duration "${duration}s" --json="$json" >/dev/null &
      bench_pid=$!
      sleep 3
      cpu_start=$(cpu_ticks "$server_pid")
      status=0
      wait "$bench_pid" || status=$?
      cpu_end=$(cpu_ticks "$server_pid")
      stop_server
      printf 'cpu\t%s\tpool\t%s\t%s\t%s\n' "$kind" "$((cpu_end - cpu_start))" "$status" "$json" >>"$results"
    done
  fi
  if [[ " $parts " == *" handshakes "* ]]; then
    for model in pool threads; do
      port=$(random_port)
      start_shoutd "$model" "$port" tls
      json="$work/hs-$model-$rep.json"
      cpu_start=$(cpu_ticks "$server_pid")
      status=0
      ./target/release/shout bench "127.0.0.1:$port" --tls-ca "$work/ca.pem" \
        --connections "$hs_conns" --messages "$hs_conns" --timeout 10s --json="$json" \
        >/dev/null || status=$?
      cpu_end=$(cpu_ticks "$server_pid")
      stop_server
      printf 'hs\ttls\t%s\t%s\t%s\t%s\n' "$model" "$((cpu_end - cpu_start))" "$status" "$json" >>"$results"
    done
  fi
  if [[ " $parts " == *" rss "* ]]; then
    open_s=$(((idle_conns + connect_rate - 1) / connect_rate))
    for model in $rss_models; do
      for kind in plain tls; do
        port=$(random_port)
        start_shoutd "$model" "$port" "$kind"
        sleep 0.5
        rss_before=$(rss_kib "$server_pid")
        json="$work/rss-$model-$kind-$rep.json"
        # shellcheck disable=SC2046
        ./target/release/shout bench "127.0.0.1:$port" $(tls_opts "$kind") \
          --connections "$idle_conns" --connect-rate "$connect_rate" --rate 1 \
          --duration "$((open_s + 6))s" --timeout 10s --json="$json" >/dev/null &
        bench_pid=$!
        sleep $((open_s + 3))
        rss_during=$(rss_kib "$server_pid")
        status=0
        wait "$bench_pid" || status=$?
        stop_server
        printf 'rss\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$model" "$((rss_during - rss_before))" "$status" "$json" >>"$results"
      done
    done
  fi
done

python3 - "$results" "$tck" "$rate" "$duration" "$repeat" "$hs_conns" "$idle_conns" <<'PY'
import json, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
tck, rate, duration, repeat, hs_conns, idle_conns = (int(sys.argv[2]), sys.argv[3], sys.argv[4],
                                                     sys.argv[5], sys.argv[6], int(sys.argv[7]))
groups = {}
for part, kind, model, value, status, path in rows:
    r = json.load(open(path))
    groups.setdefault((part, kind, model), []).append((int(value), int(status), r))
med = statistics.median
print(f"median of {repeat} run(s); loopback; release build")
print()
if any(k[0] == "cpu" for k in groups):
    print(f"CPU per message: pool model, 100 connections, open loop at {rate} msgs/s, "
          f"64-byte messages, {duration} s measured")
    print()
    print("| shoutd | server CPU/msg (µs) | msgs/s | p50 (µs) | p99 (µs) | errors |")
    print("|---|---|---|---|---|---|")
    cpu = {}
    for kind in ("plain", "tls"):
        runs = groups.get(("cpu", kind, "pool"), [])
        if not runs:
            continue
        per = [t / tck / r["messages"]["measured"] * 1e6 for t, _, r in runs if r["messages"]["measured"]]
        cpu[kind] = med(per)
        errors = sum(sum(v for v in r["errors"].values() if isinstance(v, int)) + (s != 0) for _, s, r in runs)
        print(f"| {'TLS' if kind == 'tls' else 'plaintext'} | {cpu[kind]:.2f} | "
              f"{med(r['throughput']['msgs_per_s'] for _, _, r in runs):.0f} | "
              f"{med(r['latency_us']['p50'] for _, _, r in runs):.0f} | "
              f"{med(r['latency_us']['p99'] for _, _, r in runs):.0f} | {errors} |")
    if "plain" in cpu and "tls" in cpu:
        print()
        print(f"TLS / plaintext server CPU per message: {cpu['tls'] / cpu['plain']:.2f}x")
    print()
if any(k[0] == "hs" for k in groups):
    print(f"Handshakes: {hs_conns} TLS connections opened at once, one message each")
    print()
    print("| shoutd model | handshakes/s | latency p50 (µs) | p99 (µs) | max (µs) | server CPU/handshake (µs) | failures |")
    print("|---|---|---|---|---|---|---|")
    for model in ("pool", "threads"):
        runs = groups.get(("hs", "tls", model), [])
        if not runs:
            continue
        t = lambda r: r["tls"]
        cpu_per = med(v / tck / max(t(r)["handshakes"], 1) * 1e6 for v, _, r in runs)
        fails = sum(t(r)["failures"] + r["errors"]["connect_failures"] + (s != 0) for _, s, r in runs)
        print(f"| {model} | {med(t(r)['per_s'] for _, _, r in runs):.0f} | "
              f"{med(t(r)['latency_us']['p50'] for _, _, r in runs):.0f} | "
              f"{med(t(r)['latency_us']['p99'] for _, _, r in runs):.0f} | "
              f"{med(t(r)['latency_us']['max'] for _, _, r in runs):.0f} | {cpu_per:.0f} | {fails} |")
    print()
if any(k[0] == "rss" for k in groups):
    print(f"Memory: {idle_conns} idle connections")
    print()
    print("| shoutd | model | connections opened | server RSS/conn (KiB) |")
    print("|---|---|---|---|")
    for model in ("pool", "threads"):
        for kind in ("plain", "tls"):
            runs = groups.get(("rss", kind, model), [])
            if not runs:
                continue
            print(f"| {'TLS' if kind == 'tls' else 'plaintext'} | {model} | "
                  f"{med(r['connections']['opened'] for _, _, r in runs):.0f} | "
                  f"{med(v / idle_conns for v, _, r in runs):.2f} |")
PY
