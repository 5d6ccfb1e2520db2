-- Takes a session's lease if it is free and the caller is first in line; otherwise puts
-- the caller in line (once) and says who holds it and when to look again.
--
-- KEYS[1] lease   hash: token, instance, request_id, route, since_ms, fence (PEXPIRE ttl)
-- KEYS[2] state   hash: fence (last issued), instance and released_ms (last release), seq
-- KEYS[3] queue   zset: waiter token -> arrival number (first come, first served)
-- KEYS[4] waits   hash: waiter token -> the ms time its wait ends (dead waiters drop out)
-- ARGV: token, instance, request_id, route, ttl_ms, wait_ms, max_waiters, state_ttl_ms,
--       events channel, session
--
-- Taking the lease, joining the line and dropping dead waiters from it are published on
-- the events channel (the session as payload), for views of the leases.
--
-- Returns {1, fence, previous_instance, ms_since_previous_release or -1}
--      or {0, holder_instance, holder_request_id, retry_after_ms, position}
--      or {-1, holder_instance, holder_request_id, retry_after_ms, queue_length}
local lease, state, queue, waits = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local token, instance, request_id, route = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
-- The TTLs go to Redis as the strings they came as: Redis 7.0 turns a Lua number
-- argument back into text with printf's slow floating-point path.
local ttl_ms, state_ttl_ms = ARGV[5], ARGV[8]
local wait_ms = tonumber(ARGV[6])
local max_waiters = tonumber(ARGV[7])
local events, session = ARGV[9], ARGV[10]

local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
local now_ms = math.floor(now_us / 1000)

local function take(first)
  local last = redis.call('HMGET', state, 'fence', 'instance', 'released_ms')
  -- Redis TIME keeps fences increasing even when the state key was lost (restart, FLUSHALL).
  local fence = math.max(tonumber(last[1] or '0') + 1, now_us)
  -- '%d' formats a Lua number as an integer, without the floating-point path.
  local fence_text = string.format('%d', fence)
  redis.call('HSET', lease, 'token', token, 'instance', instance, 'request_id', request_id,
             'route', route, 'since_ms', string.format('%d', now_ms), 'fence', fence_text)
  redis.call('PEXPIRE', lease, ttl_ms)
  -- The holder is recorded now, not at release: a holder that dies never releases, and
  -- the next one must still learn that the session ran elsewhere.
  redis.call('HSET', state, 'fence', fence_text, 'instance', instance)
  redis.call('PEXPIRE', state, state_ttl_ms)
  if first == token then
    redis.call('ZREM', queue, token)
    redis.call('HDEL', waits, token)
  end
  local since_release = -1
  if last[3] then since_release = now_ms - tonumber(last[3]) end
  redis.call('PUBLISH', events, session)
  return {1, fence, last[2] or '', since_release}
end

-- The common case: nobody holds the session and nobody waits for it.
if redis.call('EXISTS', lease, queue) == 0 then return take(nil) end

-- Waiters whose wait has ended gave up, or died: they leave the line.
local line_changed = false
for _, ticket in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
  if ticket ~= token and tonumber(redis.call('HGET', waits, ticket) or '0') <= now_ms then
    redis.call('ZREM', queue, ticket)
    redis.call('HDEL', waits, ticket)
    line_changed = true
  end
end

local holder = redis.call('HMGET', lease, 'instance', 'request_id')
local held = holder[1] ~= false
local first = redis.call('ZRANGE', queue, 0, 0)[1]

if not held and (first == nil or first == token) then return take(first) end

-- When to look again without a wake-up: when the holder's TTL runs out, or, with the
-- lease free but others ahead, when the first one's wait ends.
local function retry_after()
  if held then return math.max(redis.call('PTTL', lease), 1) end
  local first_ends = tonumber(redis.call('HGET', waits, first) or now_ms)
  return math.max(first_ends - now_ms, 1)
end

if wait_ms > 0 then
  if not redis.call('ZSCORE', queue, token) then
    local length = redis.call('ZCARD', queue)
    if length >= max_waiters then
      if line_changed then redis.call('PUBLISH', events, session) end
      return {-1, holder[1] or '', holder[2] or '', retry_after(), length}
    end
    redis.call('ZADD', queue, redis.call('HINCRBY', state, 'seq', 1), token)
    line_changed = true
  end
  redis.call('HSET', waits, token, string.format('%d', now_ms + wait_ms))
  -- The line outlives no waiter: it expires with the longest wait in it.
  local keep_ms = wait_ms + 1000
  if redis.call('PTTL', queue) < keep_ms then
    local keep_text = string.format('%d', keep_ms)
    redis.call('PEXPIRE', queue, keep_text)
    redis.call('PEXPIRE', waits, keep_text)
  end
end

if line_changed then redis.call('PUBLISH', events, session) end
local position = redis.call('ZRANK', queue, token) or redis.call('ZCARD', queue)
return {0, holder[1] or '', holder[2] or '', retry_after(), position}
