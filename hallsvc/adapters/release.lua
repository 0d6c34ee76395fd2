-- KEYS: window hash.  ARGV: member expected as current ('' = any)
local cur = redis.call('HGET', KEYS[1], 'current')
if ARGV[1] == '' or cur == ARGV[1] then redis.call('HSET', KEYS[1], 'current', '') return 1 end
return 0
