-- The lease of one session, as an operator sees it.
--
-- KEYS[1] lease, KEYS[2] queue
-- Returns {} when free, else {instance, request_id, route, fence, age_ms, remaining_ms, waiters}
local lease, queue = KEYS[1], KEYS[2]
local fields = redis.call('HMGET', lease, 'instance', 'request_id', 'route', 'fence', 'since_ms')
if not fields[1] then return {} end
local time = redis.call('TIME')
local now_ms = math.floor((tonumber(time[1]) * 1000000 + tonumber(time[2])) / 1000)
return {fields[1], fields[2], fields[3], fields[4], now_ms - tonumber(fields[5]),
        redis.call('PTTL', lease), redis.call('ZCARD', queue)}
