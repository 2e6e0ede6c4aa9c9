-- wrk script of the benchmarks (bench/redis_cluster.py, bench/request_path.py). MODE=check: GET
-- the URL's path, with `Authorization: Bearer $TOKEN` (a session token) when TOKEN is set.
-- MODE=login: POST /v1/sessions with the accounts in EMAILS (comma-separated) in turn and
-- PASSWORD. MODE=signup: POST /v1/users, each with a new address under RUN. At the end one line
-- `WRKJSON {...}` with the counts and latency percentiles (microseconds) for the driver.
local mode = os.getenv("MODE") or "check"
local emails = {}
local next_email = 0
local threads = 0
local signups = 0

-- Each wrk thread has a Lua state of its own: number them, so signup addresses never collide.
setup = function(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

if mode == "check" then
  if os.getenv("TOKEN") then
    wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
  end
elseif mode == "signup" then
  wrk.method = "POST"
  wrk.path = "/v1/users"
  wrk.headers["Content-Type"] = "application/json"
else
  for email in string.gmatch(os.getenv("EMAILS") or "", "[^,]+") do
    table.insert(emails, email)
  end
  wrk.method = "POST"
  wrk.path = "/v1/sessions"
  wrk.headers["Content-Type"] = "application/json"
end

request = function()
  if mode == "check" then
    return wrk.format()
  elseif mode == "signup" then
    signups = signups + 1
    local body = string.format('{"email":"s-%s-%d-%d@example.com","password":"%s"}',
      os.getenv("RUN"), thread_id or 0, signups, os.getenv("PASSWORD"))
    return wrk.format(nil, nil, nil, body)
  end
  next_email = next_email % #emails + 1
  local body = string.format('{"email":"%s","password":"%s"}', emails[next_email], os.getenv("PASSWORD"))
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
