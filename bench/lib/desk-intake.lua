-- wrk script for bench/desk: each request is a distinct, valid report (its own URL, e-mail and
-- explanation: neither the idempotency check nor campaign detection folds them together),
-- spread over 97 hosts (97 cases). Counts 201 answers per thread and writes each thread's
-- receipts to RECEIPTS_DIR/<thread>.txt, so that the script can check afterwards that every
-- acknowledged report is in the database.
--
-- wrk -s bench/lib/desk-intake.lua http://127.0.0.1:PORT/api/v1/reports
-- Environment: RECEIPTS_DIR (required), RUN_TAG (makes runs on one database distinct).

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local letters = "abcdefghijklmnopqrstuvwxyz"

-- n as a word of letters: explanations must differ in their letters, since the similarity
-- key drops digits (near-identical texts are a campaign).
local function word(n)
  local s = ""
  repeat
    local d = n % 26
    s = s .. letters:sub(d + 1, d + 1)
    n = (n - d) / 26
  until n == 0
  return s
end

function init(args)
  n = 0
  created = 0
  other = 0
  tag = os.getenv("RUN_TAG") or "run"
  local dir = os.getenv("RECEIPTS_DIR")
  out = assert(io.open(dir .. "/" .. tid .. ".txt", "w"))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local k = tid * 100000000 + n
  local body = string.format(
    '{"urls":["https://site%d.example/%s/post/%d"],"category":"harassment",' ..
    '"explanation":"The post %s about %s insults me and my family; please remove it.",' ..
    '"notifier_name":"Load %d","notifier_email":"n%s-%d@example.org","good_faith":true}',
    k % 97, tag, k, word(k), word(k * 7919), tid, tag, k)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
    local r = body:match('"receipt":"([^"]+)"')
    if r then out:write(r, "\n") end
  else
    other = other + 1
    if other <= 3 then io.stderr:write("status ", status, ": ", body:sub(1, 200), "\n") end
  end
end

function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    o = o + t:get("other")
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT created=%d other=%d seconds=%.3f rate=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d\n",
    c, o, secs, c / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
