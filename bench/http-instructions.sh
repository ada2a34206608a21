#!/usr/bin/env bash
# Instructions a server's main thread spends per request, counted by valgrind's callgrind: for a
# small server, a figure that repeats within about 3% run to run, unlike req/s on this shared
# 2-core machine. The service's own figure varied from 86 k to 134 k between runs of one build:
# compare its builds function by function (KEEP=1, callgrind_annotate), not by the total.
#
# usage: PORT=<port> bench/http-instructions.sh <path> <command...>
#   e.g. PORT=19001 DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch DATA_DIR=data \
#        RATE_LIMIT_PER_MINUTE=10000000 SETTLE=30 bench/http-instructions.sh /analytics/top-merchant \
#        node --max-old-space-size=256 dist/server.js
#
# The command runs under callgrind (about 50x slower) with PORT in its environment. Once <path>
# answers 200 and SETTLE seconds (default 0; give the service's start-up import time to end, or
# its work is counted too) have passed: WARM requests (default 15000) let V8 optimise the hot
# path, counters are zeroed, N requests (default 5000, autocannon, 10 connections) are counted,
# and the main thread's instructions are divided by N. Other threads
# (V8's helpers, the import thread) are left out: under valgrind they run on the same core, so
# their share depends on timing. Needs valgrind. The output goes to a temp folder, removed at the
# end unless KEEP is set (then its main thread's file is printed, for callgrind_annotate).
set -euo pipefail
path=$1
shift
: "${PORT:?set PORT}"
warm=${WARM:-15000}
count=${N:-5000}
out=$(mktemp -d)
autocannon="$(dirname "$0")/../node_modules/.bin/autocannon"
valgrind --tool=callgrind --separate-threads=yes --smc-check=all-non-file \
  --callgrind-out-file="$out/callgrind.%p" "$@" >"$out/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$out"' EXIT
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$path")" = 200 ]; do
  kill -0 $pid 2>/dev/null || { cat "$out/log"; exit 1; }
  sleep 1
done
sleep "${SETTLE:-0}"
"$autocannon" -c 10 -a "$warm" "http://127.0.0.1:$PORT$path" >/dev/null 2>&1
callgrind_control -z $pid >/dev/null 2>&1
"$autocannon" -c 10 -a "$count" "http://127.0.0.1:$PORT$path" >/dev/null 2>&1
callgrind_control -d $pid >/dev/null 2>&1
main=$(grep -m1 '^summary:' "$out/callgrind.$pid.1-01" | awk '{print $2}')
echo "$path: $((main / count)) instructions a request on the main thread ($count requests)"
if [ -n "${KEEP:-}" ]; then echo "kept for callgrind_annotate: $out/callgrind.$pid.1-01"; fi
