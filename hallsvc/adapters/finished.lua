-- KEYS: window hash, svc_ms.  ARGV: ticket id, service, its service time (ms),
-- weight. A finish: the window serves nobody now (if it was that ticket), and
-- the service's moving average takes the time in; returns the new average.
local cur = redis.call('HGET', KEYS[1], 'current')
if cur and string.sub(cur, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  redis.call('HSET', KEYS[1], 'current', '')
end
local old = tonumber(redis.call('HGET', KEYS[2], ARGV[2]))
local x = tonumber(ARGV[3])
if old then x = old + tonumber(ARGV[4]) * (x - old) end
x = math.floor(x + 0.5)
redis.call('HSET', KEYS[2], ARGV[2], x)
return x
