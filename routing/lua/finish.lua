-- The agent is done with an assigned contact. ARGV[3..]: contact, agent.
-- The contact leaves the routing state; the freed capacity pulls the
-- next waiting contact.
register('finish', function()
  advance()
  local c = contact(ARGV[3])
  if not c then return 'unknown_contact' end
  if c.st ~= 'a' or c.ag ~= ARGV[4] then return 'not_assigned' end
  local x = release(c)
  drop(c)
  pull(x)
  return ''
end)
