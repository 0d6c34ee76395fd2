-- KEYS: ready, window hash, queues…  ARGV: k (heads per queue)
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local w = redis.call('HMGET', KEYS[2], 'state', 'clerk', 'current')
local out = {w[1] or 'closed', w[2] or '', w[3] or ''}
local k = tonumber(ARGV[1])
for i = 3, #KEYS do
  out[#out + 1] = redis.call('ZCARD', KEYS[i])
  if k > 0 then out[#out + 1] = redis.call('ZRANGE', KEYS[i], 0, k - 1)
  else out[#out + 1] = {} end  -- k = 0: lengths only (ZRANGE 0 -1 would be all)
end
return out
