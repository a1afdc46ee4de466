"""Tarry's multi-step atomic Redis operations, as named Lua scripts.

Each script is headed by its KEYS and ARGV. Key names are built in `keys.py` and
passed in; a script only reads one back out of a hash it wrote (a session's day
key), which lies in the same hash-tag slot, so scripts work on a Redis Cluster.
"""

from __future__ import annotations

# Event kinds the ingest script treats specially (anything else is kind 0).
KIND_PAGE_VIEW = 1
KIND_VIEW_ITEM = 2
KIND_ADD_TO_CART = 3
KIND_PURCHASE = 4
KIND_ENGAGED = 5  # an `engagement` event with engaged_ms >= 10 s

INGEST = """
-- Append a batch of events to a store's stream and update every live aggregate,
-- in one round trip, so that a batch is counted entirely or not at all.
--
-- KEYS[1]   the store's event stream
-- KEYS[2..] the other keys, referred to by index from ARGV[1]
-- ARGV[1]   JSON plan:
--   now        server time, ms          minid  stream entries older than this go
--   seen_ttl   seconds an event id is remembered (duplicate window)
--   sess_ttl   seconds of idleness that end a session
--   tx_ttl     seconds a transaction id is remembered
--   win        rate-limit window, seconds
--   ip         [key index, limit] or absent      per-IP request limit
--   vis        [[key index, events, limit], ...]  per-visitor event limits
--   ev         [[seen, session, day, visitors, tx, kind, revenue_minor, vid], ...]
--              (key indexes; tx is 0 when the event has no transaction id)
-- ARGV[2..]  each event's stored form, in the order of ev
-- Returns {accepted, duplicates}, or {-1, retry_after_seconds} when rate-limited.

local plan = cjson.decode(ARGV[1])

local retry = 0
if plan.ip then
  local key = KEYS[plan.ip[1]]
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, plan.win) end
  if n > plan.ip[2] then retry = math.max(1, redis.call('TTL', key)) end
end
for _, v in ipairs(plan.vis) do
  local key = KEYS[v[1]]
  local n = redis.call('INCRBY', key, v[2])
  if n == v[2] then redis.call('EXPIRE', key, plan.win) end
  if n > v[3] then retry = math.max(retry, 1, redis.call('TTL', key)) end
end
if retry > 0 then return {-1, retry} end

local accepted, duplicates = 0, 0
for i, e in ipairs(plan.ev) do
  if redis.call('SET', KEYS[e[1]], '1', 'NX', 'EX', plan.seen_ttl) then
    accepted = accepted + 1
    redis.call('XADD', KEYS[1], 'MINID', '~', plan.minid, '*', 'e', ARGV[i + 1])
    local day = KEYS[e[3]]
    local session = KEYS[e[2]]
    local kind = e[6]
    redis.call('HINCRBY', day, 'events', 1)
    redis.call('PFADD', KEYS[e[4]], e[8])

    -- A session belongs to the day of its first event: its engaged and purchase
    -- flags are counted there too, so per-day rates use one denominator.
    local session_day = redis.call('HGET', session, 'day')
    if not session_day then
      session_day = day
      redis.call('HSET', session, 'day', day)
      redis.call('HINCRBY', day, 'sessions', 1)
    end
    local engaged = false

    if kind == 1 then
      redis.call('HINCRBY', day, 'page_views', 1)
      if redis.call('HINCRBY', session, 'page_views', 1) >= 2 then engaged = true end
    elseif kind == 2 then
      redis.call('HINCRBY', day, 'product_views', 1)
    elseif kind == 3 then
      redis.call('HINCRBY', day, 'add_to_carts', 1)
      engaged = true
    elseif kind == 4 then
      engaged = true
      local first = true
      if e[5] > 0 then
        first = redis.call('SET', KEYS[e[5]], '1', 'NX', 'EX', plan.tx_ttl)
      end
      if first then
        redis.call('HINCRBY', day, 'purchases', 1)
        redis.call('HINCRBY', day, 'revenue_minor', e[7])
      end
      if redis.call('HSETNX', session, 'purchased', '1') == 1 then
        redis.call('HINCRBY', session_day, 'purchase_sessions', 1)
      end
    elseif kind == 5 then
      engaged = true
    end

    if engaged and redis.call('HSETNX', session, 'engaged', '1') == 1 then
      redis.call('HINCRBY', session_day, 'engaged_sessions', 1)
    end
    redis.call('EXPIRE', session, plan.sess_ttl)
  else
    duplicates = duplicates + 1
  end
end
return {accepted, duplicates}
"""
