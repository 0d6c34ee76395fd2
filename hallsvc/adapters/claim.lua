-- KEYS: ready, window hash, queue. ARGV: the call's time (epoch ms, kept
-- beside the current ticket: Q1's estimate reads how long it has been served).
-- Takes the head of the queue the policy chose, in the same step that marks
-- the window busy: returns the member, or a code. If another window took the
-- chosen head a moment ago, this is the next in the same line (same service
-- and class: as eligible, and first in line now); insisting on the chosen one
-- would make every busy window retry.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local w = redis.call('HMGET', KEYS[2], 'state', 'current')
if w[1] ~= 'open' then return -2 end
if w[2] and w[2] ~= '' then return -3 end
local head = redis.call('ZPOPMIN', KEYS[3])
if #head == 0 then return 0 end
redis.call('HSET', KEYS[2], 'current', head[1], 'called_ms', ARGV[1])
return head[1]
