-- KEYS: ready, the ticket's queue, the service's other priority queues…
-- ARGV: its queue key, its member, and 'add' (enqueue it) or 'count' (it
-- waits there already: an estimate on request, Q1).
-- Returns how many go before it: those ahead in its queue and (Q4) every
-- priority ticket of the service waiting in another class; -2 if, counting,
-- it is not waiting there.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if ARGV[3] == 'add' then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
elseif not redis.call('ZSCORE', KEYS[2], ARGV[2]) then
  return -2
end
local ahead = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. ARGV[1])
for i = 3, #KEYS do ahead = ahead + redis.call('ZCARD', KEYS[i]) end
return ahead
