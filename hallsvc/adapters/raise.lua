-- KEYS: a counter.  ARGV: value from the record, ttl. Never lowers a counter:
-- numbers handed out after the record was read stay handed out.
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
