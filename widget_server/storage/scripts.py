"""Tarry's multi-step atomic Redis operations, as named Lua scripts.

Each script is headed by its KEYS and ARGV. Key names follow `keys.py`, whose part
names are substituted into the sources here (`$SEEN` and so on), so the layout is
defined once. Every key a script touches shares the store's hash tag with KEYS[1],
so scripts run on a Redis Cluster too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from string import Template
from typing import Any

from redis.exceptions import OutOfMemoryError, ResponseError

from widget_server.storage import keys

# What Redis says when `maxmemory` (with `noeviction`) refuses a write.
OUT_OF_MEMORY = "OOM command not allowed"


def register(redis: Any, source: str) -> Callable[..., Awaitable[Any]]:
    """`redis.register_script(source)`, called alike (`keys=`, `args=`), except that a
    write Redis refuses for want of memory raises OutOfMemoryError, as a plain
    command's does: Redis before 7 (the embedded one is 6.2) wraps it in a generic
    script error, which would reach the sender as a 500 instead of a 503 to retry.
    Redis refuses only a script's first write, so such a call stored nothing."""
    script = redis.register_script(source)

    async def call(keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        try:
            return await script(keys=keys, args=args)
        except ResponseError as exc:
            raise script_error(exc) from exc

    return call


def script_error(exc: ResponseError) -> ResponseError:
    """What a script's error is to its caller: a refused write (`register`) as
    OutOfMemoryError, anything else as it came."""
    if OUT_OF_MEMORY in str(exc) and not isinstance(exc, OutOfMemoryError):
        return OutOfMemoryError(str(exc))
    return exc


# Event kinds the ingest script treats specially (anything else is kind 0).
KIND_PAGE_VIEW = 1
KIND_VIEW_ITEM = 2
KIND_ADD_TO_CART = 3
KIND_PURCHASE = 4
KIND_ENGAGED = 5  # an `engagement` event with engaged_ms >= 10 s
KIND_POPUP_SEEN = 6  # `popup_shown` or `popup_suppressed`: counts for frequency caps
KIND_POPUP_CLICK = 7
KIND_CHECKOUT = 8

_INGEST = """
-- Append the events of one or more collect requests (coalesced by the server) to a
-- store's stream and update every live aggregate, in one round trip; each request
-- is counted entirely or not at all. The call's accepted events are one stream
-- entry (field `events`, a JSON array of them less `vid` and `sid`; field `who`,
-- who sent them, as `device vid sid count` runs joined by `;`: see
-- storage/event_entries.py): one XADD per call, not per event.
-- Everything is read once per call (event ids by HMGET per quarter-hour, sessions
-- by one MGET, rate-limit counters by GET), counted in Lua tables and written once
-- per key at the end: the number of Redis commands per event is what Redis spends.
--
-- KEYS[1]  the store's event stream
-- ARGV[1]  MessagePack plan:
--   prefix     the store's key prefix, `t:{store_id}:`
--   minid      stream entries older than this id are trimmed
--   seen_ttl   seconds an event id is remembered after its hash's last write
--   sess_ttl   seconds of idleness that end a session
--   tx_ttl     seconds a transaction id is remembered
--   win        rate-limit window length (s);  w  the current window's number
--   reqs       one object per request:
--     ih, ipl  hashed client address and its request limit (absent: no limit)
--     vl       events a visitor may send per window (0: no limit)
--     dev      the device class of the request's client
--     ev       [[id, sid, day, vid, kind, transaction_id or "", revenue_minor,
--               stored form (less vid and sid), quarter-hour of the event's ts as
--               sent, ts, popup id or "", category viewed or "", quarter-hour of
--               ts, dims, currency or "", engaged ms, customer id or "", item ids
--               (tab-separated) of a view, cart addition or purchase or "", what
--               attribution reads of it (keys.attribution_hour; JSON) or "", the
--               id's digest (collect/ingest.py seen_digest)], ...]
--              dims: the session's dimension values if it starts with this event,
--              tab-separated in the order of DIMENSIONS (collect/ingest.py)
--     cat      [[item_id, card JSON], ...]: product data seen in view_item events,
--              merged field by field into the catalog (absent: none)
--   vis_ttl    seconds a visitor's record is kept after their last session starts
--   minute     the server's clock in minutes (realtime counters), live_ttl their life
--   cap        dimension values a UTC day admits per dimension; the rest are (other)
--   slog_minid session-log entries older than this id are trimmed
--   hist       set for an import of the shop's past: its events are deduplicated
--              for good (not for 48 hours), its orders' ids too, and nothing counts
--              as realtime traffic
--   orders     set for an import of past orders: orders only, no web sessions
-- Returns {accepted, duplicates} per request, flattened (an import: {accepted,
-- duplicates, orders counted}); {-1, retry_after_seconds} for a rate-limited
-- request, which then changes nothing else.

local plan = cmsgpack.unpack(ARGV[1])
local P = plan.prefix
local out = {}


local counters = {}   -- key -> field -> increment
local function add(key, field, n)
  local fields = counters[key]
  if not fields then fields = {}; counters[key] = fields end
  fields[field] = (fields[field] or 0) + n
end
-- Every counter is kept per UTC quarter-hour, hour and day: any local day of any
-- time zone is a sum of them (analytics/periods.py).
local buckets = {}    -- quarter number -> {day=, qk=, hk=, dk=}
local function bucket(q, day)
  local b = buckets[q]
  if not b then
    b = {q = q, day = day, qk = P .. '$QUARTER' .. q,
         hk = P .. '$HOUR' .. math.floor(q / 4), dk = P .. '$DAY' .. day}
    buckets[q] = b
  end
  return b
end
local function count(b, field, n)
  add(b.qk, field, n); add(b.hk, field, n); add(b.dk, field, n)
end
local visitors = {}   -- HyperLogLog key -> {vid = true}
local function saw(key, vid)
  local set = visitors[key]
  if not set then set = {}; visitors[key] = set end
  set[vid] = true
end

-- Session counters by dimension value: per quarter-hour (one hash for every
-- dimension) and per UTC day (a hash per dimension). A day admits `cap` values per
-- dimension; later new ones count as (other), so a flood of unique landing pages
-- cannot grow a day without bound.
local DIMENSIONS = {'$DIMENSIONS'}
local admitted = {}   -- day key -> value -> true
local distinct = {}   -- day key -> values admitted so far
local function admit(day, dims)
  local out, i = {}, 0
  for value in string.gmatch(dims .. '\t', '([^\t]*)\t') do
    i = i + 1
    local dim = DIMENSIONS[i]
    if not dim then break end
    local key = P .. '$DIMS_DAY' .. day .. ':' .. dim
    local known = admitted[key]
    if not known then known = {}; admitted[key] = known end
    if not known[value] then
      if redis.call('HEXISTS', key, value .. '\ts') == 1 then
        known[value] = true
      else
        local n = distinct[key]
        if n == nil then n = tonumber(redis.call('HGET', key, '\t#') or '0') end
        if n < plan.cap then
          known[value] = true
          distinct[key] = n + 1
          add(key, '\t#', 1)
        else
          distinct[key] = n
          value = '(other)'
        end
      end
    end
    out[i] = value
  end
  return table.concat(out, '\t')
end
local ranks = {}      -- sorted-set key -> value -> sessions
local function by_dims(dims, q, day, metric, n)
  if dims == '' then return end
  local i = 0
  for value in string.gmatch(dims .. '\t', '([^\t]*)\t') do
    i = i + 1
    local dim = DIMENSIONS[i]
    if not dim then break end
    local week = math.floor((math.floor(q / 96) + 3) / 7)
    add(P .. '$DIMS_QUARTER' .. q, dim .. '\t' .. value .. '\t' .. metric, n)
    add(P .. '$DIMS_DAY' .. day .. ':' .. dim, value .. '\t' .. metric, n)
    add(P .. '$DIMS_WEEK' .. week .. ':' .. dim, value .. '\t' .. metric, n)
    if metric == 's' then
      for _, key in ipairs({P .. '$DIMS_RANK' .. day .. ':' .. dim,
                            P .. '$DIMS_RANK_WEEK' .. week .. ':' .. dim,
                            P .. '$DIMS_RANK_MONTH' .. string.sub(day, 1, 7) .. ':' .. dim}) do
        local r = ranks[key]
        if not r then r = {}; ranks[key] = r end
        r[value] = (r[value] or 0) + n
      end
    end
  end
end
-- An order counts once (by transaction id, or by event id when it has none), at
-- its own time, by its currency ('' is the store's): amounts in two currencies
-- are never added up. Returns whether it was counted now.
local function count_order(e, b, dims, q, day)
  local tx = e[6]
  if tx ~= '' then
    local marker = P .. '$TRANSACTION' .. tx
    local first
    if plan.hist then  -- an imported order is remembered for good
      first = redis.call('SET', marker, '1', 'NX')
    else
      first = redis.call('SET', marker, '1', 'NX', 'EX', plan.tx_ttl)
    end
    if not first then return false end
  else
    tx = e[1]
  end
  local cur = e[15]
  count(b, 'purchases', 1)
  count(b, 'revenue_minor', e[7])
  count(b, 'orders:' .. cur, 1)
  count(b, 'revenue:' .. cur, e[7])
  by_dims(dims, q, day, 'o:' .. cur, 1)
  by_dims(dims, q, day, 'r:' .. cur, e[7])
  local customer = e[17]
  if customer == '' then
    customer = redis.call('HGET', P .. '$VISITOR' .. e[4], 'u') or e[4]
  elseif customer == '-' then
    customer = ''  -- an imported order without a customer: no one to retain
  end
  local member = tx .. '\t' .. customer .. '\t' .. e[7] .. '\t' .. cur
  redis.call('ZADD', P .. '$ORDER_LOG', e[10], member)
  return true
end
-- Each visitor's (and customer's) last items, newest first: pushed once per key
-- per call, then trimmed.
local MAX_ITEMS_KEPT = 50
local KIND_LETTER = {[2] = 'v', [3] = 'c', [4] = 'p'}
local item_pushes = {}   -- list key -> entries, oldest first
local function remember_items(e)
  local letter = KIND_LETTER[e[5]]
  if not letter or e[18] == '' then return end
  local targets = {P .. '$VISITOR_ITEMS' .. e[4]}
  if e[17] ~= '' and e[17] ~= '-' then targets[2] = P .. '$CUSTOMER_ITEMS' .. e[17] end
  for item in string.gmatch(e[18], '[^\t]+') do
    local entry = item .. ' ' .. letter .. ' ' .. e[10]
    for _, key in ipairs(targets) do
      local list = item_pushes[key]
      if not list then list = {}; item_pushes[key] = list end
      list[#list + 1] = entry
    end
  end
end
local session_starts = {}   -- "vid ts" of every session this call starts
local live_key = P .. '$LIVE' .. plan.minute
-- Event ids already seen, looked up with one HMGET per quarter-hour's hash for the
-- whole call, and the new ones written with one HSET per quarter-hour at the end:
-- two commands per call instead of one per event. A quarter-hour's hash, unlike an
-- hour's, stays in Redis' compact encoding (512 fields) for stores of up to about
-- 2,000 events an hour: a fifth of the memory per id. Its fields are the ids'
-- 8-byte digests (e[20]), not the ids. Imported ids are kept whole per hour (for
-- good: re-importing a file must find what the first import counted).
local DIGEST = 20
local function seen_keys(q)   -- {key, field of e}: the hash new ids go to, then older ones
  local hour = math.floor(q / 4)
  if plan.hist then return {{P .. '$IMPORTED' .. hour, 1}} end
  -- Until 48 hours after an upgrade, ids accepted before it are in the hour's hash.
  return {{P .. '$SEEN_QUARTER' .. q, DIGEST}, {P .. '$SEEN' .. hour, 1}}
end
local known = {}      -- id -> true: seen before this call, or earlier in it
local new_ids = {}    -- quarter-hour -> {digest or id, '1', digest or id, '1', ...}
local SEEN_FIELD = plan.hist and 1 or DIGEST  -- what new ids are kept as
do
  local by_quarter = {}
  for _, req in ipairs(plan.reqs) do
    for _, e in ipairs(req.ev) do
      local events = by_quarter[e[9]]
      if not events then events = {}; by_quarter[e[9]] = events end
      events[#events + 1] = e
    end
  end
  for q, events in pairs(by_quarter) do
    for _, seen in ipairs(seen_keys(q)) do
      local fields = {}
      for i, e in ipairs(events) do fields[i] = e[seen[2]] end
      local found = redis.call('HMGET', seen[1], unpack(fields))
      for i, e in ipairs(events) do
        if found[i] then known[e[1]] = true end
      end
    end
  end
end

-- Every session of the call read with one MGET (false: no state yet).
local session_states = {}
if not plan.orders then
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
local senders = {}    -- who sent them, run-length: {device, vid, sid, events, ...}
local attributed = {} -- those of them the popup and showcase reports read

-- A session's state is one string, "day page_views engaged purchased quarter
-- funnel_step\tdims|cat|cat", read and written once per call: two commands per
-- session instead of a hash's three. The categories viewed in it serve decisions'
-- targeting; the dimension values, the breakdowns of its later events.
local MAX_CATEGORIES = 10
local sessions = {}   -- sid -> {day=, q=, page_views=, engaged=, purchased=, f=, dims=, cats=}
local function session_of(sid, day, q, vid, ts, dims)
  local s = sessions[sid]
  if s then return s end
  local state = session_states[sid]
  s = {page_views = 0, engaged = false, purchased = false, cats = '', f = 0, dims = ''}
  if state then
    local d, v, e, p, rest = string.match(state, '^(%S+) (%d+) (%d) (%d)(.*)$$')
    s.day, s.page_views, s.engaged, s.purchased = d, tonumber(v), e == '1', p == '1'
    local sq, f, sdims, c = string.match(rest or '', '^ (%d+) (%d)\t([^|]*)(.*)$$')
    if sq then
      s.q, s.f, s.dims, s.cats = tonumber(sq), tonumber(f), sdims, c
    else  -- written before quarter-hours were kept: its day is all we know
      s.q, s.cats = q, rest or ''
    end
  end
  if not s.day then
    -- A session belongs to the quarter-hour (so the local day) of its first event:
    -- its engaged, converted and funnel flags are counted there too, so the rates
    -- of a period share one denominator.
    s.day, s.q = day, q
    local b = bucket(q, day)
    count(b, 'sessions', 1)
    count(b, 'single_page_sessions', 1)
    saw(b.qk .. '$VISITORS', vid); saw(b.hk .. '$VISITORS', vid); saw(b.dk .. '$VISITORS', vid)
    s.dims = admit(day, dims)
    by_dims(s.dims, q, day, 's', 1)
    by_dims(s.dims, q, day, '1', 1)
    session_starts[#session_starts + 1] = vid .. ' ' .. ts
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
    local accepted, duplicates, orders = 0, 0, 0
    local batch = {}      -- the request's accepted events, stored as one entry
    for _, e in ipairs(req.ev) do
      -- A field in an hourly hash costs a fraction of a key with its own expiry.
      if not known[e[1]] then
        known[e[1]] = true
        local ids = new_ids[e[9]]
        if not ids then ids = {}; new_ids[e[9]] = ids end
        ids[#ids + 1] = e[SEEN_FIELD]
        ids[#ids + 1] = '1'
        accepted = accepted + 1
        batch[#batch + 1] = e[8]
        local last = #senders
        if last > 0 and senders[last - 1] == e[2] and senders[last - 2] == e[4]
            and senders[last - 3] == req.dev then
          senders[last] = senders[last] + 1
        else
          senders[last + 1] = req.dev
          senders[last + 2] = e[4]
          senders[last + 3] = e[2]
          senders[last + 4] = 1
        end
        if e[19] ~= '' and not plan.hist then attributed[#attributed + 1] = e[19] end
        local day, kind, q = e[3], e[5], e[13]
        if plan.orders then
          -- A past order, imported: no web session, no visitor, no page behind it.
          if kind == 4 and count_order(e, bucket(q, day), '', q, day) then
            orders = orders + 1
          end
          count(bucket(q, day), 'events', 1)
        else
        local s = session_of(e[2], day, q, e[4], e[10], e[14])
        local b, sb = bucket(q, day), bucket(s.q, s.day)
        count(b, 'events', 1)
        if not plan.hist then
          add(live_key, 'events', 1)
          saw(live_key .. '$VISITORS', e[4])
        end
        if e[17] ~= '' then redis.call('HSET', P .. '$VISITOR' .. e[4], 'u', e[17]) end

        remember_items(e)
        local engaged = false
        if kind == 1 then
          count(b, 'page_views', 1)
          if not plan.hist then
            add(live_key, 'p\t' .. string.match(e[14], '([^\t]*)$$'), 1)
          end
          s.page_views = s.page_views + 1
          if s.page_views == 2 then
            count(sb, 'single_page_sessions', -1)
            by_dims(s.dims, s.q, s.day, '1', -1)
          end
          if s.page_views >= 2 then engaged = true end
        elseif kind == 2 then
          count(b, 'product_views', 1)
          if s.f == 0 then s.f = 1; count(sb, 'funnel_1', 1) end
        elseif kind == 3 then
          count(b, 'add_to_carts', 1)
          if s.f == 1 then s.f = 2; count(sb, 'funnel_2', 1) end
          engaged = true
        elseif kind == 8 then
          count(b, 'checkouts', 1)
          if s.f == 2 then s.f = 3; count(sb, 'funnel_3', 1) end
        elseif kind == 4 then
          engaged = true
          if count_order(e, b, s.dims, q, day) then
            orders = orders + 1
            local vkey = P .. '$VISITOR' .. e[4]
            redis.call('HINCRBY', vkey, 'o', 1)
            redis.call('HSET', vkey, 'lp', e[10])
          end
          if not s.purchased then
            s.purchased = true
            count(sb, 'purchase_sessions', 1)
            by_dims(s.dims, s.q, s.day, 'c', 1)
          end
          if s.f == 3 then s.f = 4; count(sb, 'funnel_4', 1) end
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
        if e[16] > 0 then count(sb, 'engaged_ms', e[16]) end
        if engaged and not s.engaged then
          s.engaged = true
          count(sb, 'engaged_sessions', 1)
          by_dims(s.dims, s.q, s.day, 'e', 1)
        end
        end  -- a web event
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
    if plan.hist then out[#out + 1] = orders end
  end
end

-- One stream entry for every request of the call: the entry is only a grouping.
-- Who sent the events (device class, visitor, session) is written once per run of
-- events alike, not in every event; the entry's id is when they arrived.
if #all_events > 0 then
  local runs = {}
  for i = 1, #senders, 4 do
    runs[#runs + 1] = senders[i] .. ' ' .. senders[i + 1] .. ' ' .. senders[i + 2] .. ' '
      .. senders[i + 3]
  end
  redis.call('XADD', KEYS[1], '*', 'events', '[' .. table.concat(all_events, ',') .. ']',
    'who', table.concat(runs, ';'))
end
if #attributed > 0 then
  -- Appended to the arrival hour's string, each event after a comma; the first
  -- append makes the key, and sets its lifetime.
  local log = P .. '$ATTRIBUTION_HOUR' .. math.floor(plan.minute / 60)
  local added = ',' .. table.concat(attributed, ',')
  if redis.call('APPEND', log, added) == #added then
    redis.call('EXPIRE', log, plan.tx_ttl)
    -- What older versions wrote ages out as it did: once an hour is enough.
    redis.call('XTRIM', P .. '$ATTRIBUTION_LOG', 'MINID', '~', plan.minid)
  end
end
if plan.hist then
  -- Past periods changed: their distinct visitors are counted again when asked,
  -- and what processes kept of the logs is read again (analytics/customers.py).
  redis.call('DEL', P .. '$VISITOR_COUNTS', P .. '$SETTLED_SUMS')
  redis.call('INCR', P .. '$REPORT_GENERATION')
end
for sid, s in pairs(sessions) do
  local state = s.day .. ' ' .. s.page_views .. ' ' .. (s.engaged and '1' or '0') .. ' '
    .. (s.purchased and '1' or '0') .. ' ' .. s.q .. ' ' .. s.f .. '\t' .. s.dims .. s.cats
  redis.call('SET', P .. '$SESSION' .. sid, state, 'EX', plan.sess_ttl)
end
if #session_starts > 0 then
  local log = P .. '$SESSION_LOG'
  redis.call('XADD', log, '*', 's', table.concat(session_starts, ';'))
  redis.call('XTRIM', log, 'MINID', '~', plan.slog_minid)
end
for q, ids in pairs(new_ids) do
  local key = seen_keys(q)[1][1]
  redis.call('HSET', key, unpack(ids))
  if not plan.hist then redis.call('EXPIRE', key, plan.seen_ttl) end
end
for key, n in pairs(counts) do
  redis.call('INCRBY', key, n - starts[key])
  if starts[key] == 0 then redis.call('EXPIRE', key, plan.win) end
end
-- Trimming once per call is as good as per entry, and cheaper.
redis.call('XTRIM', KEYS[1], 'MINID', '~', plan.minid)
for key, fields in pairs(counters) do
  for field, n in pairs(fields) do
    if n ~= 0 then redis.call('HINCRBY', key, field, n) end
  end
end
for key, entries in pairs(item_pushes) do
  redis.call('LPUSH', key, unpack(entries))
  redis.call('LTRIM', key, 0, MAX_ITEMS_KEPT - 1)
  redis.call('EXPIRE', key, plan.vis_ttl)
end
for key, values in pairs(ranks) do
  for value, n in pairs(values) do redis.call('ZINCRBY', key, n, value) end
end
redis.call('EXPIRE', live_key, plan.live_ttl)
for key, set in pairs(visitors) do
  local ids = {}
  for vid in pairs(set) do ids[#ids + 1] = vid end
  redis.call('PFADD', key, unpack(ids))
end
redis.call('EXPIRE', live_key .. '$VISITORS', plan.live_ttl)
return out
"""

INGEST = Template(_INGEST).substitute(
    SEEN=keys.SEEN,
    SEEN_QUARTER=keys.SEEN_QUARTER,
    SESSION=keys.SESSION,
    TRANSACTION=keys.TRANSACTION,
    DAY=keys.DAY,
    VISITORS=keys.VISITORS,
    RATE_IP=keys.RATE_IP,
    RATE_VISITOR=keys.RATE_VISITOR,
    VISITOR=keys.VISITOR,
    CATALOG=keys.CATALOG,
    QUARTER=keys.QUARTER,
    HOUR=keys.HOUR,
    DIMS_QUARTER=keys.DIMS_QUARTER,
    DIMS_DAY=keys.DIMS_DAY,
    DIMS_RANK=keys.DIMS_RANK,
    DIMS_RANK_WEEK=keys.DIMS_RANK_WEEK,
    DIMS_RANK_MONTH=keys.DIMS_RANK_MONTH,
    DIMS_WEEK=keys.DIMS_WEEK,
    SETTLED_SUMS=keys.SETTLED_SUMS,
    IMPORTED=keys.IMPORTED,
    ATTRIBUTION_LOG=keys.ATTRIBUTION_LOG,
    ATTRIBUTION_HOUR=keys.ATTRIBUTION_HOUR,
    VISITOR_ITEMS=keys.VISITOR_ITEMS,
    CUSTOMER_ITEMS=keys.CUSTOMER_ITEMS,
    VISITOR_COUNTS=keys.VISITOR_COUNTS,
    LIVE=keys.LIVE,
    SESSION_LOG=keys.SESSION_LOG,
    ORDER_LOG=keys.ORDER_LOG,
    REPORT_GENERATION=keys.REPORT_GENERATION,
    DIMENSIONS="', '".join(keys.DIMENSIONS),
)

# What a decision reads of a store and a visitor, in one call: one command instead
# of a pipeline of five, and a known customer's items without a second round trip
# (redis-py's cost a command is most of what reading them costs the server).
# KEYS[1]  the rules' version    KEYS[2]  the catalog's version
# KEYS[3]  the visitor's record  KEYS[4]  the session's state
# KEYS[5]  the visitor's items
# ARGV[1]  the store's key prefix, for the customer's items (field `u` of KEYS[3])
# Returns the two versions, the record as HGETALL gives it, the session, the
# visitor's items and the customer's (none without a customer).
DECIDE_STATE = Template("""
local visitor = redis.call('HGETALL', KEYS[3])
local customer_items = {}
for i = 1, #visitor, 2 do
  if visitor[i] == 'u' then
    if visitor[i + 1] ~= '' then
      customer_items = redis.call('LRANGE', ARGV[1] .. '$CUSTOMER_ITEMS' .. visitor[i + 1], 0, -1)
    end
    break
  end
end
return {
  redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), visitor, redis.call('GET', KEYS[4]),
  redis.call('LRANGE', KEYS[5], 0, -1), customer_items,
}
""").substitute(CUSTOMER_ITEMS=keys.CUSTOMER_ITEMS)

# Distinct counts of several unions of HyperLogLogs in one round trip (a Cluster's
# pipelines refuse PFCOUNT; every key here shares the store's slot).
# KEYS  the HyperLogLogs of every union, one after another
# ARGV  how many keys each union takes, in order
# Returns the count of each union.
PFCOUNTS = """
local out, at = {}, 1
for i = 1, #ARGV do
  local n = tonumber(ARGV[i])
  if n == 0 then
    out[i] = 0
  else
    out[i] = redis.call('PFCOUNT', unpack(KEYS, at, at + n - 1))
  end
  at = at + n
end
return out
"""

# Replaces a string only while it still holds what the caller read (ARGV[1]), and
# keeps its lifetime; an empty ARGV[2] deletes it. Returns 0 when it changed in the
# meantime (read again and retry). What WATCH does, also on a Cluster.
REPLACE_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
end
return 1
"""

# The signed sums of the same fields over many hashes, summed here so that only the
# totals travel: KEYS the hashes; ARGV[1] the number of fields F, then a sign
# (1 or -1) per key, then per key which field names it uses (`1` or `2`), then
# the F names of the first kind, then the F names of the second. (A breakdown's
# day hashes name a field `value<TAB>metric`, its quarter-hour hashes
# `dimension<TAB>value<TAB>metric`.) Returns the F totals.
SIGNED_FIELD_SUMS = """
local nk, nf = #KEYS, tonumber(ARGV[1])
local names = {{}, {}}
for i = 1, nf do
  names[1][i] = ARGV[1 + 2 * nk + i]
  names[2][i] = ARGV[1 + 2 * nk + nf + i]
end
local totals = {}
for i = 1, nf do totals[i] = 0 end
for k = 1, nk do
  local sign = tonumber(ARGV[1 + k])
  local fields = names[tonumber(ARGV[1 + nk + k])]
  -- In slices: unpack() of thousands of values overflows Lua's C stack.
  for first = 1, nf, 500 do
    local last = math.min(nf, first + 499)
    local row = redis.call('HMGET', KEYS[k], unpack(fields, first, last))
    for i = first, last do
      local v = row[i - first + 1]
      if v then totals[i] = totals[i] + sign * tonumber(v) end
    end
  end
end
return totals
"""

# The top ARGV[1] members of the union of the sorted sets KEYS[2..], by summed
# score (highest first): the union is made in KEYS[1], a scratch key of the same
# slot, and deleted before the script returns, so only the top travels.
TOP_OF_UNION = """
redis.call('ZUNIONSTORE', KEYS[1], #KEYS - 1, unpack(KEYS, 2))
local top = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
redis.call('DEL', KEYS[1])
return top
"""
