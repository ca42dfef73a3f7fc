-- wrk script: each write carries N requests for wrk's URL back to back
-- (HTTP/1.1 pipelining), N the first script argument, 16 when absent. wrk
-- counts every response, so its requests and req/s are per request, not per
-- write; its latency figures are per write, so they mean little here.
-- Run: wrk -t1 -c64 -d4s -s benches/scripts/pipeline.lua http://127.0.0.1:PORT/plaintext -- 16
local batch

function init(args)
  local n = tonumber(args[1]) or 16
  local one = wrk.format("GET", wrk.path)
  batch = string.rep(one, n)
end

function request()
  return batch
end
