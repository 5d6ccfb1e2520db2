-- Ends the lease if the caller still holds it, records who held it last, wakes the
-- waiters and tells views of the leases (events channel). A lease that expired or was
-- forced away is left alone.
--
-- KEYS[1] lease, KEYS[2] state, KEYS[3] queue
-- ARGV: token, channel, state_ttl_ms, events channel, session
-- Returns 1 when released, 0 when the caller no longer held it.
local lease, state, queue = KEYS[1], KEYS[2], KEYS[3]
local token, channel, state_ttl_ms = ARGV[1], ARGV[2], ARGV[3]
local events, session = ARGV[4], ARGV[5]

local current = redis.call('HMGET', lease, 'token', 'instance')
if current[1] ~= token then return 0 end

local time = redis.call('TIME')
local now_ms = math.floor((tonumber(time[1]) * 1000000 + tonumber(time[2])) / 1000)
redis.call('DEL', lease)
-- acquire.lua gave the state its TTL when it took the lease. Two new fields mean the
-- state went missing meanwhile (eviction): then the TTL is set again here.
if redis.call('HSET', state, 'instance', current[2], 'released_ms', string.format('%d', now_ms)) == 2 then
  redis.call('PEXPIRE', state, state_ttl_ms)
end
-- Every waiter joins the line before it waits for a message, so an empty line means
-- nobody to wake.
if redis.call('EXISTS', queue) == 1 then redis.call('PUBLISH', channel, 'released') end
redis.call('PUBLISH', events, session)
return 1
