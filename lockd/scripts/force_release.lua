-- Ends a session's lease whoever holds it (admin), wakes the waiters and tells views of
-- the leases (events channel). The old holder's token no longer matches anything: its
-- renewals report "lost" and its release is a no-op.
--
-- KEYS[1] lease, KEYS[2] state, KEYS[3] queue
-- ARGV: channel, state_ttl_ms, events channel, session
-- Returns {} when there was no lease, else what inspect.lua returns for it.
local lease, state, queue = KEYS[1], KEYS[2], KEYS[3]
local channel, state_ttl_ms = ARGV[1], tonumber(ARGV[2])
local events, session = ARGV[3], ARGV[4]
local fields = redis.call('HMGET', lease, 'instance', 'request_id', 'route', 'fence', 'since_ms')
if not fields[1] then return {} end
local time = redis.call('TIME')
local now_ms = math.floor((tonumber(time[1]) * 1000000 + tonumber(time[2])) / 1000)
local remaining = redis.call('PTTL', lease)
redis.call('DEL', lease)
redis.call('HSET', state, 'instance', fields[1], 'released_ms', now_ms)
redis.call('PEXPIRE', state, state_ttl_ms)
redis.call('PUBLISH', channel, 'forced')
redis.call('PUBLISH', events, session)
return {fields[1], fields[2], fields[3], fields[4], now_ms - tonumber(fields[5]), remaining,
        redis.call('ZCARD', queue)}
