-- Change an agent's status. ARGV[3..]: agent, status. Only 'available'
-- takes offers; the caller checked the agent's seat lease before asking
-- for it. Leaving 'available' puts the contacts only offered to the agent
-- back in their queues and routes them; assigned ones stay with it.
register('set_status', function()
  advance()
  local x = agent(ARGV[3])
  if not x then return 'unknown_agent' end
  local st = ARGV[4]
  if st == x.st then return '' end
  if x.why ~= '' then
    x.why = ''
    aset(x, 'why', '')
  end
  if st == 'available' then
    x.st, x.miss, x.idle = st, 0, NOW
    aset(x, 'st', st, 'miss', 0, 'idle', NOW)
    index(x, true)
    pull(x)
  elseif x.st == 'available' then
    for _, c in ipairs(unavailable(x, st)) do route(c) end
  else
    x.st = st
    aset(x, 'st', st)
  end
  -- Offline (a lost seat, a logout): contacts waiting for the agent as
  -- their preferred one go to their queues.
  if st == 'offline' then
    for _, c in ipairs(unprefer(x)) do route(c) end
  end
  return ''
end)
