-- KEYS: ready, the ticket's queue, the service's other priority queues…
-- Returns how many go before it: those ahead in its queue and (Q4) every
-- priority ticket of the service waiting in another class.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
local ahead = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. ARGV[1])
for i = 3, #KEYS do ahead = ahead + redis.call('ZCARD', KEYS[i]) end
return ahead
