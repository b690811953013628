#!/usr/bin/env bash
# The history record script's cost in Redis: Redis's own time per call (INFO commandstats
# usec_per_call, so the shared machine's load skews it less than a rate) of this checkout's
# script (`RECORD` in src/history.rs) by EVALSHA, against the script before 2026-12-03 (TIME,
# XADD, XTRIM, PEXPIRE and PUBLISH on every message) by EVAL and EVALSHA, a PUBLISH and an
# XADD of the same message, and the current script's body run for 10 messages in one call.
# Each: redis-benchmark -c 1 -P 1000 (N calls, 300,000 by default) on a fresh redis-server,
# statistics reset before each; ROUNDS rounds (3 by default).
#
#   benches/record-script.sh [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
dir=$(mktemp -d)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
trap 'kill "$(cat "$dir/redis.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

# The script as src/history.rs has it.
new=$(awk '/^pub const RECORD: &str = r"$/{on=1; next} on && /^";$/{exit} on' src/history.rs)
[[ $new == *XADD* ]] || { echo "RECORD not found in src/history.rs" >&2; exit 1; }
old="local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', ARGV[3], 'm', ARGV[4])
redis.call('XTRIM', KEYS[1], 'MINID', '~', math.max(0, now - tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call(ARGV[5], KEYS[2], ARGV[6] .. id .. ARGV[7])
return id"
# The current script's body for each of the messages in one call (ARGV: size, age, publish
# command, then sender, message, head, tail per message).
many="local ids = {}
for i = 0, (#ARGV - 3) / 4 - 1 do
  local b = 3 + i * 4
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', ARGV[b + 1], 'm', ARGV[b + 2])
  if string.sub(id, -2) == '-0' then
    redis.call('XTRIM', KEYS[1], 'MINID', '~', math.max(0, tonumber(string.sub(id, 1, -3)) - tonumber(ARGV[2])))
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  redis.call(ARGV[3], KEYS[2], ARGV[b + 3] .. id .. ARGV[b + 4])
  ids[#ids + 1] = id
end
return ids"
sha() { redis-cli -p "$port" SCRIPT LOAD "$1"; }
NEW=$(sha "$new"); OLD=$(sha "$old"); MANY=$(sha "$many")

m='{"type":"message","id":"m1","from":"server","to":"big","data":{"n":1,"text":"a chat message of some forty characters"}}'
k='symple:history:{symple:room:big}'; c='symple:room:big'
head='{"v":2,"origin":"","seq":0,"kind":"history","offset":"'; tail='","room":"big","message":null}'
ten=(); for _ in $(seq 10); do ten+=('' "$m" "$head" "$tail"); done

# name, commandstats name, calls, command...: Redis's microseconds per call.
run() {
  local name=$1 stat=$2 n=$3; shift 3
  redis-cli -p "$port" CONFIG RESETSTAT >/dev/null
  redis-benchmark -p "$port" -c 1 -P 1000 -n "$n" -q "$@" >/dev/null 2>&1
  printf '%s %s  ' "$name" "$(redis-cli -p "$port" INFO commandstats |
    sed -n "s/^cmdstat_$stat:.*usec_per_call=\([0-9.]*\).*/\1/p")"
}
N=${N:-300000}
echo "Redis microseconds per call (INFO commandstats), load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  echo "round $r: $(run PUBLISH publish "$N" PUBLISH "$c" "$m")$(run XADD xadd "$N" XADD "$k" MAXLEN '~' 1000 '*' s '' m "$m")$(run old-EVAL eval "$N" EVAL "$old" 2 "$k" "$c" 1000 600000 '' "$m" PUBLISH "$head" "$tail")$(run old-EVALSHA evalsha "$N" EVALSHA "$OLD" 2 "$k" "$c" 1000 600000 '' "$m" PUBLISH "$head" "$tail")$(run EVALSHA evalsha "$N" EVALSHA "$NEW" 2 "$k" "$c" 1000 600000 '' "$m" PUBLISH "$head" "$tail")$(run 10-per-call evalsha $((N / 10)) EVALSHA "$MANY" 2 "$k" "$c" 1000 600000 PUBLISH "${ten[@]}")"
done
echo "(load after $(cut -d' ' -f1-3 /proc/loadavg))"
