-- KEYS: ready, line counter, session counter, hall order counter[, idempotency key]
-- ARGV: cap (0 = none), fresh (1: never reuse the key's number), ttl seconds
-- Returns {number, order}, -1 (no hot state) or -2 (Q8: the session's cap reached).
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if KEYS[5] and ARGV[2] == '0' then
  local seen = redis.call('GET', KEYS[5])
  if seen then
    local sep = string.find(seen, ':')
    return {tonumber(string.sub(seen, 1, sep - 1)), tonumber(string.sub(seen, sep + 1))}
  end
end
local cap = tonumber(ARGV[1])
if cap > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= cap then return -2 end
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
local n = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local o = redis.call('INCR', KEYS[4])
redis.call('EXPIRE', KEYS[4], ARGV[3])
if KEYS[5] then redis.call('SET', KEYS[5], n .. ':' .. o, 'EX', ARGV[3]) end
return {n, o}
