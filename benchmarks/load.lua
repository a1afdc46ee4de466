-- wrk script of benchmarks/load.py: one route of the shop's mix, paced to a fixed rate.
--
-- load.py runs one wrk (one thread) per route at once, each with this script:
--   LOAD_ROUTE   collect | decide | recommendations | stats
--   LOAD_RATE    requests per second of this route (an open loop, as in decide.lua:
--                every request claims the next slot of one schedule; one sent late
--                because every connection was busy is counted in `late`)
--   LOAD_KEY     the store's public key;  LOAD_SECRET  its secret key (stats)
--   LOAD_ITEMS   catalog items, ids i0 .. i<LOAD_ITEMS - 1>
--   LOAD_TAG     a prefix unique to the run, so that no event id repeats
--   LOAD_ORIGIN  the store's origin (https://...)
-- done() prints one line, `LOAD_JSON {...}`: requests, statuses, latency percentiles.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } load_timespec;
int clock_gettime(int clock_id, load_timespec *tp);
]]
local clock = ffi.new("load_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local route = os.getenv("LOAD_ROUTE") or error("load.lua: LOAD_ROUTE is not set")
local rate = tonumber(os.getenv("LOAD_RATE") or "0") or 0
local key = os.getenv("LOAD_KEY") or ""
local secret = os.getenv("LOAD_SECRET") or ""
local items = tonumber(os.getenv("LOAD_ITEMS") or "1000") or 1000
local tag = os.getenv("LOAD_TAG") or "run"
local origin = os.getenv("LOAD_ORIGIN") or "https://load.example"

local VISITORS = 5000
local EVENTS_PER_REQUEST = 5
local AGENTS = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    .. "Chrome/124.0 Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    .. "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
}
-- A storefront's events: mostly page and product views, some carts, a few orders.
local TYPES = {
  "page_view", "page_view", "page_view", "view_item", "view_item", "view_item",
  "engagement", "add_to_cart", "view_cart", "purchase",
}
local PAGES = { "product", "product", "product", "category", "category", "home", "cart", "search" }
local SLOTS = {
  product = "similar,recommended", category = "recommended", home = "recommended,popular",
  cart = "recently_viewed", search = "popular",
}
local STRATEGIES = { "recommended", "similar", "bought_together", "trending", "popular" }
local REPORTS = { "overview", "realtime", "summary", "funnel", "breakdown?by=channel" }

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local counter, next_slot, interval = 0, nil, 0

function init(args)
  math.randomseed(os.time() + #route)
  if rate > 0 then
    interval = 1000 / rate
  end
  -- globals: done() reads them with thread:get()
  late, max_lag_ms, answers, statuses = 0, 0, 0, {}
end

local function item()
  return "i" .. math.random(0, items - 1)
end

local function headers(extra)
  local h = { ["User-Agent"] = AGENTS[math.random(#AGENTS)], ["Origin"] = origin }
  for name, value in pairs(extra or {}) do
    h[name] = value
  end
  return h
end

local function event_json(visitor, ts)
  counter = counter + 1
  local kind = TYPES[math.random(#TYPES)]
  local fields = string.format(
    '"id":"%s-%d","type":"%s","ts":%d,"vid":"lv%d","sid":"ls%d","url":"%s/products/%s"',
    tag, counter, kind, ts, visitor, visitor, origin, item()
  )
  if kind == "view_item" or kind == "add_to_cart" then
    fields = fields .. string.format(',"items":[{"item_id":"%s","price":19.9,"quantity":1}]', item())
  elseif kind == "purchase" then
    fields = fields .. string.format(
      ',"transaction_id":"%s-t%d","value":39.8,"currency":"EUR","items":[{"item_id":"%s",'
        .. '"price":19.9,"quantity":2}]',
      tag, counter, item()
    )
  elseif kind == "engagement" then
    fields = fields .. ',"engaged_ms":12000'
  elseif kind == "page_view" then
    fields = fields .. ',"page_type":"product","title":"A product page"'
  end
  return "{" .. fields .. "}"
end

local builders = {}

function builders.collect()
  local visitor = math.random(VISITORS)
  local ts = os.time() * 1000
  local events = {}
  for i = 1, EVENTS_PER_REQUEST do
    events[i] = event_json(visitor, ts)
  end
  local body = '{"k":"' .. key .. '","events":[' .. table.concat(events, ",") .. "]}"
  return wrk.format("POST", "/v1/collect", headers({ ["Content-Type"] = "text/plain" }), body)
end

function builders.decide()
  local visitor = math.random(VISITORS)
  local page = PAGES[math.random(#PAGES)]
  local path = string.format(
    "/v1/decide?k=%s&vid=lv%d&sid=ls%d&page_type=%s&url=%s%%2F%s&history=%s,%s&slots=%s",
    key, visitor, visitor, page, origin, page, item(), item(), SLOTS[page]
  )
  if page == "product" then
    path = path .. "&item_id=" .. item()
  elseif page == "cart" then
    path = path .. "&cart=" .. item() .. "&cart_value=39.8"
  end
  return wrk.format("GET", path, headers())
end

function builders.recommendations()
  local strategy = STRATEGIES[math.random(#STRATEGIES)]
  local path = string.format(
    "/v1/recommendations?k=%s&vid=lv%d&placement=%s&item_id=%s&history=%s,%s&n=8",
    key, math.random(VISITORS), strategy, item(), item(), item()
  )
  return wrk.format("GET", path, headers())
end

function builders.stats()
  local path = "/v1/stats/" .. REPORTS[math.random(#REPORTS)]
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. secret })
end

local build = builders[route] or error("load.lua: no route " .. route)

function request()
  return build()
end

if rate > 0 then
  function delay()
    local now = now_ms()
    if next_slot == nil then
      next_slot = now
    end
    next_slot = next_slot + interval
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
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local thread = threads[1]
  local counts = thread:get("statuses") or {}
  local parts = {}
  for status, count in pairs(counts) do
    parts[#parts + 1] = string.format('"%d":%d', status, count)
  end
  local e = summary.errors
  io.write(string.format(
    'LOAD_JSON {"route":"%s","requests":%d,"duration_us":%d,"answers":%d,'
      .. '"statuses":{%s},"socket_errors":%d,"timeouts":%d,"late":%d,"max_lag_ms":%.1f,'
      .. '"latency_us":{"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    route, summary.requests, summary.duration, thread:get("answers") or 0,
    table.concat(parts, ","), e.connect + e.read + e.write, e.timeout,
    thread:get("late") or 0, thread:get("max_lag_ms") or 0,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean
  ))
end
