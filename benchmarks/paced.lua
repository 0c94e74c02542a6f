-- Paced load for wrk (benchmarks/submit.py): many clients, each waiting a random think time
-- before its next request (exponential, mean THINK_MS), so requests arrive spread out at a
-- steady overall rate, as from independent respondents, not in lockstep bursts.
local think_ms = tonumber(os.getenv("THINK_MS") or "100")
local body_file = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = body_file:read("*a")
body_file:close()

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
end

function delay()
  return -think_ms * math.log(1 - math.random())
end

function done(summary, latency, requests)
  io.write(string.format("PACED requests=%d seconds=%.3f p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
