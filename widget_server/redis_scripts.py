"""Tarry's multi-step atomic Redis operations, as named Lua scripts.

Each script is headed by its KEYS and ARGV. Key names follow `keys.py`, whose part
names are substituted into the sources here (`$SEEN` and so on), so the layout is
defined once. Every key a script touches shares the store's hash tag with KEYS[1],
so scripts run on a Redis Cluster too.
"""

from __future__ import annotations

from string import Template

from widget_server import keys

# Event kinds the ingest script treats specially (anything else is kind 0).
KIND_PAGE_VIEW = 1
KIND_VIEW_ITEM = 2
KIND_ADD_TO_CART = 3
KIND_PURCHASE = 4
KIND_ENGAGED = 5  # an `engagement` event with engaged_ms >= 10 s

_INGEST = """
-- Append the events of one or more collect requests (coalesced by the server) to a
-- store's stream and update every live aggregate, in one round trip; each request
-- is counted entirely or not at all. A request's accepted events are one stream
-- entry (field `events`, a JSON array): one XADD per request, not per event.
-- Counters are summed in Lua tables and written once per key at the end, which
-- keeps the number of Redis calls per event small.
--
-- KEYS[1]  the store's event stream
-- ARGV[1]  MessagePack plan:
--   prefix     the store's key prefix, `t:{store_id}:`
--   minid      stream entries older than this id are trimmed
--   seen_ttl   seconds an event id is remembered after its hour's last write
--   sess_ttl   seconds of idleness that end a session
--   tx_ttl     seconds a transaction id is remembered
--   win        rate-limit window length (s);  w  the current window's number
--   reqs       one object per request:
--     ih, ipl  hashed client address and its request limit (absent: no limit)
--     vl       events a visitor may send per window (0: no limit)
--     ev       [[id, sid, day, vid, kind, transaction_id or "", revenue_minor,
--               stored form, hour of the event's ts as sent], ...]
-- Returns {accepted, duplicates} per request, flattened; {-1, retry_after_seconds}
-- for a rate-limited request, which then changes nothing else.

local plan = cmsgpack.unpack(ARGV[1])
local P = plan.prefix
local out = {}


local counters = {}   -- day -> field -> increment
local function count(day, field, n)
  local fields = counters[day]
  if not fields then fields = {}; counters[day] = fields end
  fields[field] = (fields[field] or 0) + n
end
local visitors = {}   -- day -> list of visitor ids
local seen_hours = {} -- hour -> true, for the duplicate-window hashes written

-- A session's state is one string, "day page_views engaged purchased", read and
-- written once per call: two commands per session instead of a hash's three.
local sessions = {}   -- sid -> {day=, page_views=, engaged=, purchased=}
local function session_of(sid, day)
  local s = sessions[sid]
  if s then return s end
  local state = redis.call('GET', P .. '$SESSION' .. sid)
  s = {page_views = 0, engaged = false, purchased = false}
  if state then
    local d, v, e, p = string.match(state, '^(%S+) (%d+) (%d) (%d)$$')
    s.day, s.page_views, s.engaged, s.purchased = d, tonumber(v), e == '1', p == '1'
  end
  if not s.day then
    -- A session belongs to the day of its first event: its engaged and purchase
    -- flags are counted there too, so per-day rates share one denominator.
    s.day = day
    count(day, 'sessions', 1)
  end
  sessions[sid] = s
  return s
end

local function retry_after(key, n, limit)
  if n > limit then return math.max(1, redis.call('TTL', key)) end
  return 0
end

for _, req in ipairs(plan.reqs) do
  local retry = 0
  if req.ipl then
    local key = P .. '$RATE_IP' .. req.ih .. ':' .. plan.w
    local n = redis.call('INCR', key)
    if n == 1 then redis.call('EXPIRE', key, plan.win) end
    retry = retry_after(key, n, req.ipl)
  end
  if req.vl > 0 then
    local per_visitor = {}
    for _, e in ipairs(req.ev) do per_visitor[e[4]] = (per_visitor[e[4]] or 0) + 1 end
    for vid, events in pairs(per_visitor) do
      local key = P .. '$RATE_VISITOR' .. vid .. ':' .. plan.w
      local n = redis.call('INCRBY', key, events)
      if n == events then redis.call('EXPIRE', key, plan.win) end
      retry = math.max(retry, retry_after(key, n, req.vl))
    end
  end

  if retry > 0 then
    out[#out + 1] = -1
    out[#out + 1] = retry
  else
    local accepted, duplicates = 0, 0
    local batch = {}      -- the request's accepted events, stored as one entry
    for _, e in ipairs(req.ev) do
      -- A field in an hourly hash costs a fraction of a key with its own expiry.
      if redis.call('HSETNX', P .. '$SEEN' .. e[9], e[1], '1') == 1 then
        seen_hours[e[9]] = true
        accepted = accepted + 1
        batch[#batch + 1] = e[8]
        local day, kind = e[3], e[5]
        local s = session_of(e[2], day)
        count(day, 'events', 1)
        local seen = visitors[day]
        if not seen then seen = {}; visitors[day] = seen end
        seen[#seen + 1] = e[4]

        local engaged = false
        if kind == 1 then
          count(day, 'page_views', 1)
          s.page_views = s.page_views + 1
          if s.page_views >= 2 then engaged = true end
        elseif kind == 2 then
          count(day, 'product_views', 1)
        elseif kind == 3 then
          count(day, 'add_to_carts', 1)
          engaged = true
        elseif kind == 4 then
          engaged = true
          local first = true
          if e[6] ~= '' then
            first = redis.call('SET', P .. '$TRANSACTION' .. e[6], '1', 'NX', 'EX', plan.tx_ttl)
          end
          if first then
            count(day, 'purchases', 1)
            count(day, 'revenue_minor', e[7])
          end
          if not s.purchased then
            s.purchased = true
            count(s.day, 'purchase_sessions', 1)
          end
        elseif kind == 5 then
          engaged = true
        end
        if engaged and not s.engaged then
          s.engaged = true
          count(s.day, 'engaged_sessions', 1)
        end
      else
        duplicates = duplicates + 1
      end
    end
    if accepted > 0 then
      redis.call('XADD', KEYS[1], '*', 'events', '[' .. table.concat(batch, ',') .. ']')
    end
    out[#out + 1] = accepted
    out[#out + 1] = duplicates
  end
end

for sid, s in pairs(sessions) do
  local state = s.day .. ' ' .. s.page_views .. ' ' .. (s.engaged and '1' or '0') .. ' '
    .. (s.purchased and '1' or '0')
  redis.call('SET', P .. '$SESSION' .. sid, state, 'EX', plan.sess_ttl)
end
for hour in pairs(seen_hours) do
  redis.call('EXPIRE', P .. '$SEEN' .. hour, plan.seen_ttl)
end
-- Trimming once per call is as good as per entry, and cheaper.
redis.call('XTRIM', KEYS[1], 'MINID', '~', plan.minid)
for day, fields in pairs(counters) do
  local key = P .. '$DAY' .. day
  for field, n in pairs(fields) do
    redis.call('HINCRBY', key, field, n)
  end
end
for day, ids in pairs(visitors) do
  redis.call('PFADD', P .. '$DAY' .. day .. '$VISITORS', unpack(ids))
end
return out
"""

INGEST = Template(_INGEST).substitute(
    SEEN=keys.SEEN,
    SESSION=keys.SESSION,
    TRANSACTION=keys.TRANSACTION,
    DAY=keys.DAY,
    VISITORS=keys.VISITORS,
    RATE_IP=keys.RATE_IP,
    RATE_VISITOR=keys.RATE_VISITOR,
)
