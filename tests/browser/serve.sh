#!/usr/bin/env bash
# `script/demo --serve`, the README's main command with its flag: it stays up with the Rails
# app and the demo page answering, and Ctrl-C (SIGINT to its process group, as a terminal
# sends it) stops everything: exit 130 and none of its processes left. Run by script/test
# after script/demo (which has built everything it needs).
set -euo pipefail
cd "$(dirname "$0")/../.."

log=$(mktemp)
# Its own process group with SIGINT not ignored, like a command in a terminal (a background
# command of a script starts with SIGINT ignored; ruby puts back the default before exec).
setsid ruby -e 'trap("INT", "SYSTEM_DEFAULT"); exec(*ARGV)' \
  env SYMPLE_DEMO_NO_SETUP=1 script/demo --serve >"$log" 2>&1 &
pid=$!
trap 'kill -KILL -- -"$pid" 2>/dev/null || true; rm -f "$log"' EXIT

# The fields of /proc/PID/stat after the command name: state, parent, process group.
pstat() { local line; read -r line 2>/dev/null <"/proc/$1/stat" && echo "${line##*) }"; }
# Running, not a zombie waiting to be reaped.
alive() { local s; s=$(pstat "$pid") && [[ ${s%% *} != Z ]]; }
# Processes still in its process group (but itself).
left() {
  local p f
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$pid" ]] && continue
    read -r -a f <<<"$(pstat "$p")" || continue
    [[ ${f[2]:-} == "$pid" ]] && echo "$p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
  done
  return 0
}

fail() {
  echo "serve check: $*; its output:" >&2
  cat "$log" >&2
  exit 1
}

# Bounded: up to 300 s for the Rails app to boot on a loaded machine.
for _ in $(seq 600); do
  grep -q "Ctrl-C stops everything" "$log" && break
  alive || fail "script/demo --serve exited before it was up"
  sleep 0.5
done
grep -q "Ctrl-C stops everything" "$log" || fail "not up within 300 s"
rails=$(sed -nE 's#^demo: Rails app \(examples/rails\) on (http://[^ ]+)$#\1#p' "$log")
page=$(sed -nE 's#^demo: symple server .*, page at (http://[^ ]+)$#\1#p' "$log")
[[ -n $rails && -n $page ]] || fail "no Rails or page URL printed"

# GET: the status, then the body.
get() { ruby -rnet/http -e 'r = Net::HTTP.get_response(URI(ARGV[0])); puts r.code; print r.body' "$1"; }
get "$rails/" | head -1 | grep -qx 200 || fail "the Rails app did not answer $rails/"
get "$rails/" | grep -q "The Rails side" || fail "the Rails app's page is not the demo's"
get "$page" | grep -q "<title>symple demo</title>" || fail "the demo page did not answer at $page"
alive || fail "script/demo --serve did not stay up"

kill -INT -- -"$pid"
# Bounded: a watchdog kills it if SIGINT has not stopped it within 60 s.
(sleep 60 && kill -KILL -- -"$pid" 2>/dev/null) &
watchdog=$!
status=0
wait "$pid" || status=$?
kill "$watchdog" 2>/dev/null || true
[[ $status == 130 ]] || fail "exit status $status after SIGINT, not 130 (137: did not stop within 60 s)"
# Redis, the server and Puma went with it (script/demo waits for them before it exits).
leftover=$(left)
[[ -z $leftover ]] || fail "left running after SIGINT: $leftover"
echo "serve check: up, Rails and the page answered, SIGINT stopped everything (exit 130)"
