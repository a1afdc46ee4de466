"""Tarry's multi-step atomic Redis operations, as named Lua scripts.

Each script is headed by its KEYS and ARGV. Key names follow `keys.py`, whose part
names are substituted into the sources here (`$SEEN` and so on), so the layout is
defined once. Every key a script touches shares the store's hash tag with KEYS[1],
so scripts run on a Redis Cluster too.
"""

from __future__ import annotations

from string import Template

from widget_server.storage import keys

# Event kinds the ingest script treats specially (anything else is kind 0).
KIND_PAGE_VIEW = 1
KIND_VIEW_ITEM = 2
KIND_ADD_TO_CART = 3
KIND_PURCHASE = 4
KIND_ENGAGED = 5  # an `engagement` event with engaged_ms >= 10 s
KIND_POPUP_SEEN = 6  # `popup_shown` or `popup_suppressed`: counts for frequency caps
KIND_POPUP_CLICK = 7

_INGEST = """
-- Append the events of one or more collect requests (coalesced by the server) to a
-- store's stream and update every live aggregate, in one round trip; each request
-- is counted entirely or not at all. The call's accepted events are one stream
-- entry (field `events`, a JSON array): one XADD per call, not per event.
-- Everything is read once per call (event ids by HMGET per hour, sessions by one
-- MGET, rate-limit counters by GET), counted in Lua tables and written once per
-- key at the end: the number of Redis commands per event is what Redis spends.
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
--               stored form, hour of the event's ts as sent, ts, popup id or "",
--               category viewed or ""], ...]
--     cat      [[item_id, card JSON], ...]: product data seen in view_item events,
--              merged field by field into the catalog (absent: none)
--   vis_ttl    seconds a visitor's record is kept after their last session starts
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
-- Event ids already seen, looked up with one HMGET per hour's hash for the whole
-- call, and the new ones written with one HSET per hour at the end: two commands
-- per call instead of one per event.
local known = {}      -- id -> true: seen before this call, or earlier in it
local new_ids = {}    -- hour -> {id, '1', id, '1', ...}
do
  local by_hour = {}
  for _, req in ipairs(plan.reqs) do
    for _, e in ipairs(req.ev) do
      local ids = by_hour[e[9]]
      if not ids then ids = {}; by_hour[e[9]] = ids end
      ids[#ids + 1] = e[1]
    end
  end
  for hour, ids in pairs(by_hour) do
    local found = redis.call('HMGET', P .. '$SEEN' .. hour, unpack(ids))
    for i, id in ipairs(ids) do
      if found[i] then known[id] = true end
    end
  end
end

-- Every session of the call read with one MGET (false: no state yet).
local session_states = {}
do
  local sids, keys = {}, {}
  for _, req in ipairs(plan.reqs) do
    for _, e in ipairs(req.ev) do
      if session_states[e[2]] == nil then
        session_states[e[2]] = false
        sids[#sids + 1] = e[2]
        keys[#keys + 1] = P .. '$SESSION' .. e[2]
      end
    end
  end
  if #keys > 0 then
    local states = redis.call('MGET', unpack(keys))
    for i, sid in ipairs(sids) do session_states[sid] = states[i] end
  end
end
local all_events = {} -- the stored forms of every accepted event, in order

-- A session's state is one string, "day page_views engaged purchased|cat|cat",
-- read and written once per call: two commands per session instead of a hash's
-- three. The categories viewed in it serve decisions' targeting.
local MAX_CATEGORIES = 10
local sessions = {}   -- sid -> {day=, page_views=, engaged=, purchased=, cats=}
local function session_of(sid, day, vid, ts)
  local s = sessions[sid]
  if s then return s end
  local state = session_states[sid]
  s = {page_views = 0, engaged = false, purchased = false, cats = ''}
  if state then
    local d, v, e, p, c = string.match(state, '^(%S+) (%d+) (%d) (%d)(.*)$$')
    s.day, s.page_views, s.engaged, s.purchased = d, tonumber(v), e == '1', p == '1'
    s.cats = c or ''
  end
  if not s.day then
    -- A session belongs to the day of its first event: its engaged and purchase
    -- flags are counted there too, so per-day rates share one denominator.
    s.day = day
    count(day, 'sessions', 1)
    -- A new session: the visitor's previous session start becomes their last visit.
    local vkey = P .. '$VISITOR' .. vid
    local known = redis.call('HMGET', vkey, 'sid', 'ss')
    if known[1] ~= sid then
      if known[2] then
        redis.call('HSET', vkey, 'ps', known[2], 'ss', ts, 'sid', sid)
      else
        redis.call('HSET', vkey, 'fs', ts, 'ss', ts, 'sid', sid)
      end
      redis.call('EXPIRE', vkey, plan.vis_ttl)
    end
  end
  sessions[sid] = s
  return s
end

-- Frequency state of popups, kept in the visitor's hash (see keys.visitor).
local MAX_SHOWS_KEPT = 20
local function per_key_count(value, key)
  if value then
    local k, n = string.match(value, '^(%S+) (%d+)$$')
    if k == key then return tonumber(n) end
  end
  return 0
end
local function popup_seen(vid, sid, rule, ts, day)
  local vkey = P .. '$VISITOR' .. vid
  local old = redis.call('HMGET', vkey, 't:' .. rule, 'n:' .. rule, 'g:s', 'g:d')
  local times = {}
  if old[1] then
    for t in string.gmatch(old[1], '%d+') do times[#times + 1] = t end
  end
  times[#times + 1] = tostring(ts)
  while #times > MAX_SHOWS_KEPT do table.remove(times, 1) end
  redis.call('HSET', vkey,
    't:' .. rule, table.concat(times, ' '),
    'n:' .. rule, sid .. ' ' .. (per_key_count(old[2], sid) + 1),
    'g:s', sid .. ' ' .. (per_key_count(old[3], sid) + 1),
    'g:d', day .. ' ' .. (per_key_count(old[4], day) + 1),
    'g:l', tostring(ts))
  redis.call('HSETNX', vkey, 'f:' .. rule, tostring(ts))
  redis.call('EXPIRE', vkey, plan.vis_ttl)
end

-- Rate-limit counters are read once per call, counted here, and written once at
-- the end: a request's check still sees every earlier request of the call.
local counts, starts = {}, {}
local function counted(key, n, limit)
  local total = counts[key]
  if total == nil then
    total = tonumber(redis.call('GET', key) or '0')
    starts[key] = total
  end
  total = total + n
  counts[key] = total
  if total > limit then
    local ttl = redis.call('TTL', key)
    return ttl > 0 and ttl or plan.win
  end
  return 0
end

for _, req in ipairs(plan.reqs) do
  local retry = 0
  if req.ipl then
    retry = counted(P .. '$RATE_IP' .. req.ih .. ':' .. plan.w, 1, req.ipl)
  end
  if req.vl > 0 then
    local per_visitor = {}
    for _, e in ipairs(req.ev) do per_visitor[e[4]] = (per_visitor[e[4]] or 0) + 1 end
    for vid, events in pairs(per_visitor) do
      local key = P .. '$RATE_VISITOR' .. vid .. ':' .. plan.w
      retry = math.max(retry, counted(key, events, req.vl))
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
      if not known[e[1]] then
        known[e[1]] = true
        local ids = new_ids[e[9]]
        if not ids then ids = {}; new_ids[e[9]] = ids end
        ids[#ids + 1] = e[1]
        ids[#ids + 1] = '1'
        accepted = accepted + 1
        batch[#batch + 1] = e[8]
        local day, kind = e[3], e[5]
        local s = session_of(e[2], day, e[4], e[10])
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
            local vkey = P .. '$VISITOR' .. e[4]
            redis.call('HINCRBY', vkey, 'o', 1)
            redis.call('HSET', vkey, 'lp', e[10])
          end
          if not s.purchased then
            s.purchased = true
            count(s.day, 'purchase_sessions', 1)
          end
        elseif kind == 5 then
          engaged = true
        elseif kind == 6 then
          popup_seen(e[4], e[2], e[11], e[10], day)
        elseif kind == 7 then
          redis.call('HSET', P .. '$VISITOR' .. e[4], 'c:' .. e[11], e[10])
        end
        local category = e[12]
        if category ~= '' and #s.cats < 640
            and not string.find(s.cats .. '|', '|' .. category .. '|', 1, true) then
          local n = select(2, string.gsub(s.cats, '|', ''))
          if n < MAX_CATEGORIES then s.cats = s.cats .. '|' .. category end
        end
        if engaged and not s.engaged then
          s.engaged = true
          count(s.day, 'engaged_sessions', 1)
        end
      else
        duplicates = duplicates + 1
      end
    end
    for _, stored in ipairs(batch) do all_events[#all_events + 1] = stored end
    if req.cat then
      local key = P .. '$CATALOG'
      for _, c in ipairs(req.cat) do
        local card = cjson.decode(c[2])
        local old = redis.call('HGET', key, c[1])
        if old then
          local merged = cjson.decode(old)
          for field, value in pairs(card) do merged[field] = value end
          card = merged
        end
        redis.call('HSET', key, c[1], cjson.encode(card))
      end
    end
    out[#out + 1] = accepted
    out[#out + 1] = duplicates
  end
end

-- One stream entry for every request of the call: the entry is only a grouping.
if #all_events > 0 then
  redis.call('XADD', KEYS[1], '*', 'events', '[' .. table.concat(all_events, ',') .. ']')
end
for sid, s in pairs(sessions) do
  local state = s.day .. ' ' .. s.page_views .. ' ' .. (s.engaged and '1' or '0') .. ' '
    .. (s.purchased and '1' or '0') .. s.cats
  redis.call('SET', P .. '$SESSION' .. sid, state, 'EX', plan.sess_ttl)
end
for hour, ids in pairs(new_ids) do
  redis.call('HSET', P .. '$SEEN' .. hour, unpack(ids))
  redis.call('EXPIRE', P .. '$SEEN' .. hour, plan.seen_ttl)
end
for key, n in pairs(counts) do
  redis.call('INCRBY', key, n - starts[key])
  if starts[key] == 0 then redis.call('EXPIRE', key, plan.win) end
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
    VISITOR=keys.VISITOR,
    CATALOG=keys.CATALOG,
)
