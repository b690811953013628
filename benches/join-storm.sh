#!/usr/bin/env bash
# Join storm: N browser-like JavaScript clients (benches/node/join-storm.js: `ws` for ours,
# `socket.io-client` for npm's symple@2.1.1) connect to one server at once and join one room.
# Ours is this build's `symple server` (release, anonymous mode, on Redis); theirs is
# benches/node/symple-server.js. Each round starts fresh servers; prints per round the time
# until every client was joined and until every client had read everything sent before a
# marker message published afterwards ("settled": presence included), then the medians.
#
#   benches/join-storm.sh [N=1000] [ROUNDS=3] [-- extra flags for ours, e.g. --presence-limit 100]
#   SIDES=ours benches/join-storm.sh ...   (ours only)
#   SYMPLE_BENCH_SERVER_BIN=path           (another build of ours; default: a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
ROUNDS=${2:-3}
shift $(( $# > 2 ? 2 : $# ))
[[ ${1:-} == -- ]] && shift
OURS_FLAGS=("$@")

script/setup >/dev/null
[[ -n ${SYMPLE_BENCH_NO_BUILD:-} ]] || cargo build --release --quiet --bin symple
BIN=$PWD/target/release/symple
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
first_line() { # file, seconds
  for _ in $(seq 1 $(( $2 * 20 ))); do
    [[ -s $1 ]] && { head -n1 "$1"; return; }
    sleep 0.05
  done
  echo "no output in $1" >&2
  exit 1
}
wait_for() { # file, event, seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do
    if grep -q "\"event\":\"fatal\"" "$1"; then cat "$1" >&2; exit 1; fi
    grep -m1 "\"event\":\"$2\"" "$1" && return
    sleep 0.1
  done
  echo "no $2 within $3 s: $(cat "$1")" >&2
  exit 1
}
ms_of() { sed -E 's/.*"ms":([0-9.]+).*/\1/'; }

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
pids+=($!)
for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
REDIS=redis://127.0.0.1:$RPORT

round() { # ours|theirs -> "joined_ms settled_ms"
  local kind=$1 url out=$tmp/$1.out storm=$tmp/storm.out spid
  rm -f "$out" "$storm"
  if [[ $kind == ours ]]; then
    "$BIN" server --listen 127.0.0.1:0 --redis-url "$REDIS" "${OURS_FLAGS[@]}" >"$out" 2>"$tmp/ours.err" &
    spid=$!
    url=ws://$(first_line "$out" 10 | sed -E 's/.*"addr":"([^"]+)".*/\1/')
  else
    rm -f "$tmp/in"; mkfifo "$tmp/in"
    node benches/node/symple-server.js "$REDIS" <"$tmp/in" >"$out" 2>"$tmp/theirs.err" &
    spid=$!
    exec 3>"$tmp/in"
    url=http://127.0.0.1:$(first_line "$out" 20 | sed -E 's/.*"port":([0-9]+).*/\1/')
  fi
  pids+=("$spid")
  node benches/node/join-storm.js "$kind" "$url" "$N" >"$storm" &
  local cpid=$!
  pids+=("$cpid")
  local joined settled
  joined=$(wait_for "$storm" joined 120 | ms_of)
  if [[ $kind == ours ]]; then
    "$BIN" emit --url "$REDIS" --target native --to storm --data '{"marker":true}' >/dev/null
  else
    "$BIN" emit --url "$REDIS" --to storm --data '{"marker":true}' >/dev/null
  fi
  settled=$(wait_for "$storm" settled 120 | ms_of)
  wait "$cpid" 2>/dev/null || true
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  [[ $kind == theirs ]] && exec 3>&-
  echo "$joined $settled"
}

echo "join storm: $N clients, $ROUNDS rounds; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ours flags: ${OURS_FLAGS[*]:-(defaults)}"
declare -a oj os tj ts
for r in $(seq 1 "$ROUNDS"); do
  if [[ ${SIDES:-both} == ours ]]; then
    read -r c d < <(round ours)
    oj+=("$c"); os+=("$d")
    printf 'round %d: ours joined %.0f ms, settled %.0f ms\n' "$r" "$c" "$d"
    continue
  fi
  read -r a b < <(round theirs)
  tj+=("$a"); ts+=("$b")
  read -r c d < <(round ours)
  oj+=("$c"); os+=("$d")
  printf 'round %d: symple@2.1.1 joined %.0f ms, settled %.0f ms; ours joined %.0f ms, settled %.0f ms\n' "$r" "$a" "$b" "$c" "$d"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
if [[ ${SIDES:-both} == ours ]]; then
  printf 'median: ours joined %.0f ms, settled %.0f ms\n' "$(median "${oj[@]}")" "$(median "${os[@]}")"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi
mtj=$(median "${tj[@]}"); mts=$(median "${ts[@]}"); moj=$(median "${oj[@]}"); mos=$(median "${os[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf 'median: symple@2.1.1 joined %.0f ms, settled %.0f ms; ours joined %.0f ms (%sx), settled %.0f ms (%sx)\n' \
  "$mtj" "$mts" "$moj" "$(ratio "$moj" "$mtj")" "$mos" "$(ratio "$mos" "$mts")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
