-- The customer left before an agent accepted. ARGV[3]: contact. Info is
-- what it was doing: 'waiting' or 'offered' (the reserved agent is freed).
register('abandon', function()
  advance()
  local c = contact(ARGV[3])
  if not c then return 'unknown_contact' end
  if c.st == 'a' then return 'already_accepted' end
  local x
  local was = 'waiting'
  if c.st == 'w' then
    take_waiting(c)
  else
    was = 'offered'
    x = release(c)
  end
  drop(c)
  if x then pull(x) end
  return '', was
end)
