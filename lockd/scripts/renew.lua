-- Extends the lease if the caller still holds it.
--
-- KEYS[1] lease
-- ARGV: token, ttl_ms
-- Returns 1 when renewed, 0 when lost (expired, or forced away and perhaps taken again).
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
