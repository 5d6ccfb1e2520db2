-- A waiter gives up: it leaves the line, and if it was first while the lease is free,
-- the next one is woken rather than left to wait for this one's deadline. Leaving is
-- published on the events channel, for views of the leases.
--
-- KEYS[1] lease, KEYS[2] queue, KEYS[3] waits
-- ARGV: token, channel, events channel, session
local lease, queue, waits = KEYS[1], KEYS[2], KEYS[3]
local token, channel, events, session = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local first = redis.call('ZRANGE', queue, 0, 0)[1]
if redis.call('ZREM', queue, token) == 1 then redis.call('PUBLISH', events, session) end
redis.call('HDEL', waits, token)
if first == token and redis.call('EXISTS', lease) == 0 and redis.call('ZCARD', queue) > 0 then
  redis.call('PUBLISH', channel, 'left')
end
return 1
