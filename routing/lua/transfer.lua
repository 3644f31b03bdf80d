-- Move a contact, keeping its id, enqueue time and priority. ARGV[3..]:
-- contact, queue ('' when to an agent), agent ('' when to a queue).
-- To a queue: whoever held it (offered or accepted) is freed and the
-- contact is routed there, never back to that agent first. To an agent:
-- a reservation for that agent, who must be available with room on the
-- channel (skills are not asked: a person chose them).
register('transfer', function()
  advance()
  local c = contact(ARGV[3])
  if not c then return 'unknown_contact' end
  local to, target = ARGV[4], ARGV[5]
  local from = ''
  if target ~= '' then
    local y = agent(target)
    if not y then return 'unknown_agent' end
    if c.st ~= 'w' and c.ag == target then return 'same_agent' end
    if not free(y, c.ch) then return 'agent_unavailable' end
    if c.st == 'w' then take_waiting(c) else from = c.ag; release(c) end
    ev({'transfer', c.id, from, c.q})
    offer(c, y)
  else
    local q = queue(to)
    if not q then return 'unknown_queue' end
    if not q.chans[c.ch] then return 'channel_not_served' end
    if c.st == 'w' then
      take_waiting(c)
    else
      from = c.ag
      release(c)
    end
    cset(c, 'q', to)
    -- The block lasts the re-offer time of the queue it is moved to; one
    -- still running from before is cut to that time.
    if from ~= '' then
      set_excl(c, from)
    elseif c.x ~= '' and NOW + q.reo < c.xu then
      cset(c, 'xu', NOW + q.reo)
      redis.call('ZADD', RES, c.xu, XU .. c.id)
    end
    put_waiting(c)
    ev({'transfer', c.id, from, to})
    route(c)
  end
  if from ~= '' then pull(agent(from)) end
  return ''
end)
