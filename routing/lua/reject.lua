-- The reserved agent declines. ARGV[3..]: contact, agent. The contact goes
-- back to its queue (same enqueue time and priority) and on to the next
-- agent; the miss counts towards the queue's max_misses.
register('reject', function()
  advance()
  local c = contact(ARGV[3])
  if not c then return 'unknown_contact' end
  if c.st ~= 'o' or c.ag ~= ARGV[4] then return 'not_offered' end
  miss(c, 'rejected')
  return ''
end)
