-- wrk script for benchmarks/collect.py: POST /v1/collect with 5 fresh events a request.
--
-- Usage: wrk -s collect.lua URL -- PUBLIC_KEY[,PUBLIC_KEY...] RUN_TAG
-- Every event id is RUN_TAG-THREAD-COUNTER, unique across threads and runs, so the
-- server never answers "duplicate" (which would skip most of its work). As from a
-- real browser, a request's events come from one visitor and session, drawn from a
-- pool, so sessions get events over several requests as on a real store. With
-- several keys, the pool's visitors are dealt out over the stores (visitor v to
-- store v mod N): the same visitors and sessions as with one store, their traffic
-- spread over many, as a fleet server sees it.

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

local public_keys, tag, counter, ts

function init(args)
  public_keys = {}
  for key in string.gmatch(args[1] or "", "[^,]+") do table.insert(public_keys, key) end
  if #public_keys == 0 then error("collect.lua: pass the public key(s) after --") end
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

-- Bodies are built with one string.format per request from templates made in init,
-- and the request head is reused, so that the load generator spends as little of
-- the machine's CPU as it can (it shares the cores with the server and Redis).
local EVENT = '{"id":"%s-%d-%%d","type":"%s","ts":%d,"vid":"v%%d","sid":"s%%d",'
  .. '"url":"https://bench.example/p/%d","page_type":"product"}'
local TEMPLATES = 16
local bodies, head = {}, nil

local function make_templates()
  for t = 1, TEMPLATES do
    local events = {}
    for i = 1, EVENTS_PER_REQUEST do
      events[i] = string.format(
        EVENT, tag, tid or 0, TYPES[math.random(#TYPES)], ts, math.random(500)
      )
    end
    local joined = table.concat(events, ",")
    for s, key in ipairs(public_keys) do
      bodies[(s - 1) * TEMPLATES + t] = '{"k":"' .. key .. '","events":[' .. joined .. "]}"
    end
  end
  -- Without a body wrk writes no Content-Length: keep its head less the blank line.
  local bare = wrk.format(nil, nil, nil, nil)
  head = bare:sub(1, #bare - 2) .. "Content-Length: "
end

function request()
  if head == nil then make_templates() end
  local visitor = math.random(VISITORS)
  local c = counter
  counter = c + EVENTS_PER_REQUEST
  local body = string.format(
    bodies[(visitor % #public_keys) * TEMPLATES + math.random(TEMPLATES)],
    c + 1, visitor, visitor, c + 2, visitor, visitor, c + 3, visitor, visitor,
    c + 4, visitor, visitor, c + 5, visitor, visitor
  )
  return head .. #body .. "\r\n\r\n" .. body
end
