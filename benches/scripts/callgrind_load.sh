# shellcheck shell=bash
# Sourced by callgrind_per_request.sh and callgrind_peers.sh: one server
# under callgrind, one wrk load, the requests served and the instructions
# spent, so that greenloop and the peers are counted the same way.
#
# callgrind_load LOAD PORT FILE CMD... -> prints "requests instructions"
#   Runs CMD (which must listen on 127.0.0.1:PORT) under callgrind, its
#   profile in FILE; waits until it answers GET /plaintext; loads it with
#   `wrk -t1 -c$CONNS -d$DUR` on /plaintext, one request at a time per
#   connection (LOAD plaintext) or 16 per write through $PIPELINE (LOAD
#   pipelined); stops it with $STOP_SIGNAL (INT when unset: greenloop's
#   graceful stop) and sums the instructions of all its threads, start-up
#   and shutdown included. A server without a SIGINT handler needs
#   STOP_SIGNAL=TERM: a background job of a script ignores SIGINT. callgrind
#   writes its profile either way. Run it in a subshell
#   (`< <(callgrind_load ...)`): the server goes down with it, however it ends.
callgrind_load() {
  local load="$1" port="$2" file="$3" n total
  shift 3
  valgrind --tool=callgrind --callgrind-out-file="$file" "$@" >/dev/null 2>"$file.err" &
  pid=$!
  trap 'kill "${pid:-}" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/plaintext" && break; sleep 0.2; done
  if [ "$load" = pipelined ]; then
    n="$(wrk -t1 -c"$CONNS" -d"$DUR" -s "$PIPELINE" "http://127.0.0.1:$port/plaintext" -- 16 | awk '/requests in/ { print $1 }')"
  else
    n="$(wrk -t1 -c"$CONNS" -d"$DUR" "http://127.0.0.1:$port/plaintext" | awk '/requests in/ { print $1 }')"
  fi
  kill -"${STOP_SIGNAL:-INT}" "$pid"
  wait "$pid" || true
  total="$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')"
  echo "$n $total"
}
