-- KEYS: svc_ms.  ARGV: service, this service's time (ms), weight of the new one.
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local x = tonumber(ARGV[2])
if old then x = old + tonumber(ARGV[3]) * (x - old) end
x = math.floor(x + 0.5)
redis.call('HSET', KEYS[1], ARGV[1], x)
return x
