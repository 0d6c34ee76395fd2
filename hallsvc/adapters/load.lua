-- KEYS: ready, svc_ms:<day>, svc_n:<day>, the queues (services × classes), the
-- window hashes.  ARGV: how many queues. One script, one reply: a pipeline of
-- 250 commands cost the server more CPU than the tickets it was read for.
-- Returns {length of each queue…, {service, ms, …}, {service, finishes, …},
-- {state, serving (0/1)} per window}.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local nq = tonumber(ARGV[1])
local out = {}
for i = 4, 3 + nq do out[#out + 1] = redis.call('ZCARD', KEYS[i]) end
out[#out + 1] = redis.call('HGETALL', KEYS[2])
out[#out + 1] = redis.call('HGETALL', KEYS[3])
for i = 4 + nq, #KEYS do
  local w = redis.call('HMGET', KEYS[i], 'state', 'current', 'called_ms')
  out[#out + 1] = w[1] or ''
  out[#out + 1] = w[2] or ''
  out[#out + 1] = w[3] or ''
end
return out
