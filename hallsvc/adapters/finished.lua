-- KEYS: window hash, svc_ms:<day>, svc_n:<day>.  ARGV: ticket id, service, its
-- service time (ms), weight, the hall file's average (ms), ttl seconds.
-- A finish: the window serves nobody now (if it was that ticket), and the
-- service's moving average of the day takes the time in, starting from the
-- hall file's average (Q1); returns {the new average, finishes folded today}.
-- The count orders the averages: a reading that holds a lower one is older.
local cur = redis.call('HGET', KEYS[1], 'current')
if cur and string.sub(cur, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  redis.call('HSET', KEYS[1], 'current', '')
end
local old = tonumber(redis.call('HGET', KEYS[2], ARGV[2])) or tonumber(ARGV[5])
local x = old + tonumber(ARGV[4]) * (tonumber(ARGV[3]) - old)
x = math.floor(x + 0.5)
redis.call('HSET', KEYS[2], ARGV[2], x)
local n = redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('EXPIRE', KEYS[3], ARGV[6])
return {x, n}
