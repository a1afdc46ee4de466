-- wrk script of benchmarks/decide.py: GET /v1/decide pages from a prepared file,
-- paced to a fixed request rate (an open loop, as far as wrk allows), and every
-- answer checked.
--
-- Environment (read at load, so that wrk knows whether `delay` exists before it
-- starts the threads):
--   DECIDE_PAGES     file of requests, one a line: "<device index>\t<path and query>"
--   DECIDE_RATE      requests per second over all connections; 0 or unset: as fast
--                    as the connections go (closed loop, no `delay`)
--   DECIDE_ARRIVALS  "constant" (default: one request every 1/RATE s) or "poisson"
--   DECIDE_OFFSET    first line to send (so that runs do not repeat each other)
--
-- Pacing: `delay()` runs before each request and returns how many milliseconds its
-- connection waits. Every call claims the next slot of one schedule shared by all
-- connections of the thread (run wrk with -t1), so the rate holds whatever the
-- latency, as long as some connection is free when a slot comes. When none is, the
-- request goes out late: such requests are counted (`late`) with the worst lag,
-- since wrk times a request from when it is sent, not from its slot. wrk's timers
-- have a resolution of 1 ms.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } decide_timespec;
int clock_gettime(int clock_id, decide_timespec *tp);
]]
local clock = ffi.new("decide_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local rate = tonumber(os.getenv("DECIDE_RATE") or "0") or 0
local poisson = os.getenv("DECIDE_ARRIVALS") == "poisson"

local AGENTS = {
  [0] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    .. "Chrome/124.0 Safari/537.36",
  [1] = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    .. "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
  [2] = "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    .. "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
  [3] = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    .. "Chrome/124.0 Mobile Safari/537.36",
}

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local pages, devices = {}, {}
local cursor = 0
local interval = 0
local next_slot = nil

function init(args)
  local path = os.getenv("DECIDE_PAGES")
  for line in io.lines(path) do
    local device, page = line:match("^(%d)\t(.+)$")
    devices[#devices + 1] = tonumber(device)
    pages[#pages + 1] = page
  end
  cursor = (tonumber(os.getenv("DECIDE_OFFSET") or "0") or 0) % #pages
  if rate > 0 then
    interval = 1000 / rate
  end
  -- counters, read by done() through thread:get()
  answers, status_200, other_status = 0, 0, 0
  with_popups, popups, with_items, with_model, unchecked = 0, 0, 0, 0, 0
  late, max_lag_ms, sent = 0, 0, 0
  origin = "https://bench.example"
end

function request()
  cursor = cursor % #pages + 1
  sent = sent + 1
  local headers = {
    ["User-Agent"] = AGENTS[devices[cursor]],
    ["Origin"] = origin,
    ["Accept"] = "*/*",
  }
  return wrk.format("GET", pages[cursor], headers)
end

if rate > 0 then
  function delay()
    local now = now_ms()
    if next_slot == nil then
      next_slot = now
    end
    if poisson then
      next_slot = next_slot - math.log(1 - math.random()) * interval
    else
      next_slot = next_slot + interval
    end
    local wait = next_slot - now
    if wait < -1 then -- more than the timer's resolution behind the schedule
      late = late + 1
      if -wait > max_lag_ms then
        max_lag_ms = -wait
      end
      return 0
    end
    return math.max(0, math.floor(wait + 0.5))
  end
end

function response(status, headers, body)
  answers = answers + 1
  if status ~= 200 then
    other_status = other_status + 1
    return
  end
  status_200 = status_200 + 1
  if body == nil or body:sub(1, 1) ~= "{" then
    unchecked = unchecked + 1
    return
  end
  -- each popup has one "template" field; each shown product one "item_id"
  local _, n = body:gsub('"template":', "")
  if n > 0 then
    with_popups = with_popups + 1
    popups = popups + n
  end
  if body:find('"items":[{', 1, true) then
    with_items = with_items + 1
  end
  if not body:find('"model_version":null', 1, true) then
    with_model = with_model + 1
  end
end

function done(summary, latency, requests)
  local totals = {}
  local names = {
    "answers", "status_200", "other_status", "with_popups", "popups", "with_items",
    "with_model", "unchecked", "late", "sent",
  }
  for _, name in ipairs(names) do
    totals[name] = 0
  end
  local lag = 0
  for _, thread in ipairs(threads) do
    for _, name in ipairs(names) do
      totals[name] = totals[name] + (thread:get(name) or 0)
    end
    lag = math.max(lag, thread:get("max_lag_ms") or 0)
  end
  local e = summary.errors
  local parts = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"socket_errors":%d', e.connect + e.read + e.write + e.timeout),
    string.format('"non_2xx_3xx":%d', e.status),
    string.format('"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}',
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean),
    string.format('"max_lag_ms":%.2f', lag),
  }
  for _, name in ipairs(names) do
    parts[#parts + 1] = string.format('"%s":%d', name, totals[name])
  end
  io.write("DECIDE_JSON {" .. table.concat(parts, ",") .. "}\n")
end
