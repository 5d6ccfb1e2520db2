-- One page of held leases, by SCAN (bounded work per call; a lease may appear twice
-- across pages, as SCAN promises no more).
--
-- ARGV: cursor, count, key_prefix
-- Returns {next_cursor, {session, instance, request_id, route, fence, age_ms, remaining_ms, waiters}...}
-- The keys are found here rather than passed in: this is an inspection script, and on a
-- Redis Cluster it sees the node it runs on only.
local cursor, count, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local time = redis.call('TIME')
local now_ms = math.floor((tonumber(time[1]) * 1000000 + tonumber(time[2])) / 1000)
local page = redis.call('SCAN', cursor, 'MATCH', prefix .. ':{*}:lease', 'COUNT', count)
local result = {page[1]}
for _, key in ipairs(page[2]) do
  local session = string.sub(key, #prefix + 3, #key - 7)
  local fields = redis.call('HMGET', key, 'instance', 'request_id', 'route', 'fence', 'since_ms')
  if fields[1] then
    local queue = prefix .. ':{' .. session .. '}:queue'
    table.insert(result, {session, fields[1], fields[2], fields[3], fields[4],
                          now_ms - tonumber(fields[5]), redis.call('PTTL', key),
                          redis.call('ZCARD', queue)})
  end
end
return result
