-- wrk script for benchmarks/collect.py: POST /v1/collect with 5 fresh events a request.
--
-- Usage: wrk -s collect.lua URL -- PUBLIC_KEY RUN_TAG
-- Every event id is RUN_TAG-THREAD-COUNTER, unique across threads and runs, so the
-- server never answers "duplicate" (which would skip most of its work). Visitors and
-- sessions come from a pool, so sessions get several events as on a real store.

local VISITORS = 2000
local EVENTS_PER_REQUEST = 5
-- Mostly page and product views, some cart additions, as a storefront sends them.
local TYPES = {
  "page_view", "page_view", "page_view", "page_view",
  "view_item", "view_item", "view_item", "view_item",
  "add_to_cart", "view_cart",
}

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local key, tag, counter, ts

function init(args)
  key = args[1] or error("collect.lua: pass the public key after --")
  tag = args[2] or "run"
  counter = 0
  -- Server time at start: well inside the 47 hours the server accepts.
  ts = os.time() * 1000
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/plain"
  wrk.headers["User-Agent"] =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
end

local EVENT = '{"id":"%s-%d-%d","type":"%s","ts":%d,"vid":"v%d","sid":"s%d",'
  .. '"url":"https://bench.example/p/%d","page_type":"product"}'

function request()
  local events = {}
  for i = 1, EVENTS_PER_REQUEST do
    counter = counter + 1
    local visitor = math.random(VISITORS)
    events[i] = string.format(
      EVENT, tag, tid or 0, counter, TYPES[math.random(#TYPES)], ts, visitor, visitor,
      math.random(500)
    )
  end
  local body = '{"k":"' .. key .. '","events":[' .. table.concat(events, ",") .. "]}"
  return wrk.format(nil, nil, nil, body)
end
