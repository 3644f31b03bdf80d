-- Routing library: prepended to every operation script (engine.go joins
-- them), because EVAL scripts cannot share code otherwise. Everything is a
-- local of the one chunk: Redis forbids globals in scripts.
--
-- KEYS[1] is the reservations zset (<P>res); every other key is built from
-- ARGV[1], the tenant prefix <prefix>rt:{t:<tenant>}:, which carries the
-- same hash tag, so one tenant's keys share one Redis Cluster slot.
-- ARGV[2] is now in ms, from the caller, so a replay of the same calls
-- gives the same state (the Go reference model relies on that).
--
-- Keys under P:
--   q:<queue>        hash: chans, skills, prio, relax, strat, offer, maxm, rr
--   queues           set of queue ids
--   a:<agent>        hash: st, idle, miss, skills, mem, c:<ch> capacity, l:<ch> load
--   agents           set of agent ids
--   ac:<agent>       hash contact -> 'o' (offered) | 'a' (assigned)
--   ax:<agent>       set of contacts this agent missed last (never re-offered to it)
--   i:<queue>:<ch>   zset of agents that qualify for the queue and can take
--                    one more <ch> contact now; score per the queue's strategy
--   pool:<ch>        zset of agents that can take one more <ch> contact now,
--                    skills ignored (relaxed contacts), score idle-since
--   c:<contact>      hash: q, ch, p, enq, m, st (w|o|a), ag, exp, x, rlx, rx
--   contacts         set of live contact ids
--   w:<queue>:<ch>   zset of waiting contacts within their skill requirements
--   r:<queue>:<ch>   zset of waiting contacts whose requirements relaxed
--                    (both: score = enq - priority*AGE, member = m)
--   rlx              zset contact -> time its requirements relax (strict ones only)
--   nw               hash ch -> waiting contacts, so a pull skips empty channels
--   res              zset contact -> reservation expiry (KEYS[1])
--   acc:<contact>    first-accept marker, kept ACC_TTL after the first accept
local P = ARGV[1]
local NOW = tonumber(ARGV[2])
local RES = KEYS[1]
local CHANNELS = {'chat', 'email', 'call', 'sms', 'social', 'fax'}
-- Agent scores are primary * 2^42 + idle-since ms: exact in a double for
-- primary < 2048 and times before 2109.
local SHIFT = 4398046511104
-- One priority point is worth AGE ms of waiting (ageing).
local AGE = 60000
local ACC_TTL = 7 * 86400000
local EV = {}

local function ev(e) EV[#EV + 1] = e end

-- Byte-wise string order, as ZRANGEBYLEX and Go use: Lua's own < goes
-- through strcoll, and Redis sets LC_COLLATE from its environment.
local function blt(a, b)
  if a == b then return false end
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- "k=v,k=v" -> {k = number}
local function kv(s)
  local t = {}
  if s then
    for k, v in string.gmatch(s, '([^,=]+)=(%d+)') do t[k] = tonumber(v) end
  end
  return t
end

local QC = {}
local function queue(id)
  local q = QC[id]
  if q == nil then
    local f = redis.call('HMGET', P .. 'q:' .. id, 'chans', 'skills', 'prio', 'relax', 'strat', 'offer', 'maxm', 'rr')
    if not f[5] then
      q = false
    else
      q = {id = id, chans = {}, skills = kv(f[2]), prio = tonumber(f[3]), relax = tonumber(f[4]), strat = f[5],
        offer = tonumber(f[6]), maxm = tonumber(f[7]), rr = f[8] or ''}
      for ch in string.gmatch(f[1], '[^,]+') do q.chans[ch] = true end
    end
    QC[id] = q
  end
  return q
end

local QL
local function queues()
  if not QL then QL = redis.call('SMEMBERS', P .. 'queues') end
  return QL
end

-- Agents and contacts are read once per script and written through.
local AC = {}
local function agent(id)
  local x = AC[id]
  if x == nil then
    local h = redis.call('HGETALL', P .. 'a:' .. id)
    if #h == 0 then
      x = false
    else
      x = {id = id, cap = {}, ld = {}, mem = {}, idle = 0, miss = 0}
      for i = 1, #h, 2 do
        local k, v = h[i], h[i + 1]
        local pre = string.sub(k, 1, 2)
        if pre == 'c:' then x.cap[string.sub(k, 3)] = tonumber(v)
        elseif pre == 'l:' then x.ld[string.sub(k, 3)] = tonumber(v)
        elseif k == 'st' then x.st = v
        elseif k == 'idle' then x.idle = tonumber(v)
        elseif k == 'miss' then x.miss = tonumber(v)
        elseif k == 'skills' then x.skills = v
        elseif k == 'mem' then
          -- "queue,strategy,skill sum;..." : the queues the agent qualifies for
          for q, s, n in string.gmatch(v, '([^,;]+),([^,;]+),(%d+)') do
            x.mem[#x.mem + 1] = {q = q, strat = s, sum = tonumber(n)}
          end
        end
      end
    end
    AC[id] = x
  end
  return x
end

local function aset(x, ...)
  redis.call('HSET', P .. 'a:' .. x.id, ...)
end

local CC = {}
local function contact(id)
  local c = CC[id]
  if c == nil then
    local f = redis.call('HMGET', P .. 'c:' .. id, 'q', 'ch', 'p', 'enq', 'm', 'st', 'ag', 'exp', 'x', 'rlx', 'rx')
    if not f[1] then
      c = false
    else
      c = {id = id, q = f[1], ch = f[2], p = tonumber(f[3]), enq = tonumber(f[4]), m = f[5], st = f[6], ag = f[7],
        exp = tonumber(f[8]), x = f[9], rlx = tonumber(f[10]), rx = tonumber(f[11])}
    end
    CC[id] = c
  end
  return c
end

local function cset(c, ...)
  local a = {...}
  for i = 1, #a, 2 do c[a[i]] = a[i + 1] end
  redis.call('HSET', P .. 'c:' .. c.id, ...)
end

local function loadcap(x)
  local l, c = 0, 0
  for ch, v in pairs(x.cap) do c = c + v end
  for ch, v in pairs(x.ld) do l = l + v end
  return l, c
end

local function free(x, ch)
  return x.st == 'available' and (x.cap[ch] or 0) > (x.ld[ch] or 0)
end

-- The agent's place in a queue's index: lower is offered first.
local function score(x, m)
  if m.strat == 'round_robin' then return 0 end
  local prim = 0
  if m.strat == 'best_skill' then
    prim = 1000 - m.sum
  elseif m.strat == 'least_occupied' then
    local l, c = loadcap(x)
    prim = math.min(2000, math.floor(1000 * l / c))
  end
  return prim * SHIFT + x.idle
end

-- index puts the agent where it belongs in every index it may be in (or,
-- with on false, takes it out of all), after any change to its status,
-- load, idle-since, capacity or memberships.
local function index(x, on)
  for _, ch in ipairs(CHANNELS) do
    if (x.cap[ch] or 0) > 0 then
      local f = on and free(x, ch)
      for _, m in ipairs(x.mem) do
        local k = P .. 'i:' .. m.q .. ':' .. ch
        if f then redis.call('ZADD', k, score(x, m), x.id) else redis.call('ZREM', k, x.id) end
      end
      if f then redis.call('ZADD', P .. 'pool:' .. ch, x.idle, x.id) else redis.call('ZREM', P .. 'pool:' .. ch, x.id) end
    end
  end
end

-- qualify returns the agent's level sum over the queue's required
-- skills, or nil when it misses one of them.
local function qualify(x, q)
  local have = kv(x.skills)
  local sum = 0
  for s, lvl in pairs(q.skills) do
    local h = have[s]
    if not h or h < lvl then return nil end
    sum = sum + h
  end
  return sum
end

local function save_mem(x)
  local parts = {}
  for _, m in ipairs(x.mem) do parts[#parts + 1] = m.q .. ',' .. m.strat .. ',' .. m.sum end
  aset(x, 'mem', table.concat(parts, ';'))
end

local function wkey(c)
  return P .. (c.rx == 1 and 'r:' or 'w:') .. c.q .. ':' .. c.ch
end

local function ckey(c)
  return c.enq - (queue(c.q).prio + c.p) * AGE
end

-- put_waiting files the contact under its queue, relaxed at once if it
-- has already waited relax_after.
local function put_waiting(c)
  local q = queue(c.q)
  local rlx = 0
  if q.relax > 0 then rlx = c.enq + q.relax end
  local rx = 0
  if rlx > 0 and rlx <= NOW then rx = 1 end
  cset(c, 'st', 'w', 'ag', '', 'exp', 0, 'rlx', rlx, 'rx', rx)
  redis.call('ZADD', wkey(c), ckey(c), c.m)
  if rlx > 0 and rx == 0 then redis.call('ZADD', P .. 'rlx', rlx, c.id) end
  redis.call('HINCRBY', P .. 'nw', c.ch, 1)
end

local function take_waiting(c)
  redis.call('ZREM', wkey(c), c.m)
  redis.call('ZREM', P .. 'rlx', c.id)
  redis.call('HINCRBY', P .. 'nw', c.ch, -1)
end

local function set_excl(c, a)
  if c.x ~= '' then redis.call('SREM', P .. 'ax:' .. c.x, c.id) end
  cset(c, 'x', a)
  if a ~= '' then redis.call('SADD', P .. 'ax:' .. a, c.id) end
end

local function drop(c)
  if c.x ~= '' then redis.call('SREM', P .. 'ax:' .. c.x, c.id) end
  redis.call('DEL', P .. 'c:' .. c.id)
  redis.call('SREM', P .. 'contacts', c.id)
  CC[c.id] = false
end

-- offer reserves a contact (not waiting any more) for one agent.
local function offer(c, x)
  local q = queue(c.q)
  local exp = NOW + q.offer
  cset(c, 'st', 'o', 'ag', x.id, 'exp', exp)
  redis.call('ZADD', RES, exp, c.id)
  redis.call('HSET', P .. 'ac:' .. x.id, c.id, 'o')
  x.ld[c.ch] = (x.ld[c.ch] or 0) + 1
  x.idle = NOW
  aset(x, 'l:' .. c.ch, x.ld[c.ch], 'idle', NOW)
  index(x, true)
  -- The round-robin cursor moves on every offer from the queue, whatever
  -- its strategy, so a later switch to round_robin starts where it is.
  q.rr = x.id
  redis.call('HSET', P .. 'q:' .. c.q, 'rr', x.id)
  ev({'offer', c.id, x.id, c.q, c.ch, exp})
end

-- release frees the agent's capacity held by an offered or assigned
-- contact; it returns the agent.
local function release(c)
  local x = agent(c.ag)
  redis.call('HDEL', P .. 'ac:' .. x.id, c.id)
  redis.call('ZREM', RES, c.id)
  x.ld[c.ch] = x.ld[c.ch] - 1
  aset(x, 'l:' .. c.ch, x.ld[c.ch])
  if loadcap(x) == 0 then
    x.idle = NOW
    aset(x, 'idle', NOW)
  end
  index(x, true)
  return x
end

local function first_not(list, excl)
  for _, id in ipairs(list) do
    if id ~= excl then return id end
  end
  return nil
end

-- pick chooses the agent for a waiting contact: the queue's strategy
-- among agents that qualify; for a relaxed contact, when none qualifies,
-- the longest idle agent with room on the channel. Never the agent that
-- missed the contact last.
local function pick(c)
  local q = queue(c.q)
  local k = P .. 'i:' .. c.q .. ':' .. c.ch
  local id
  if q.strat == 'round_robin' then
    if q.rr ~= '' then id = first_not(redis.call('ZRANGEBYLEX', k, '(' .. q.rr, '+', 'LIMIT', 0, 2), c.x) end
    if not id then id = first_not(redis.call('ZRANGEBYLEX', k, '-', '+', 'LIMIT', 0, 2), c.x) end
  else
    id = first_not(redis.call('ZRANGE', k, 0, 1), c.x)
  end
  if not id and c.rx == 1 then id = first_not(redis.call('ZRANGE', P .. 'pool:' .. c.ch, 0, 1), c.x) end
  return id
end

-- route offers a waiting contact to the agent pick chooses, if any.
local function route(c)
  if not c or c.st ~= 'w' then return end
  local id = pick(c)
  if id then
    take_waiting(c)
    offer(c, agent(id))
  end
end

-- pull fills an available agent's free capacity with the waiting contacts
-- it is eligible for, best first: lowest enq - priority*AGE, then earliest
-- enqueue, then contact id (the zset member order).
local function pull(x)
  while x.st == 'available' do
    local qual = {}
    for _, m in ipairs(x.mem) do qual[m.q] = true end
    local ax = P .. 'ax:' .. x.id
    local hasx = redis.call('EXISTS', ax) == 1
    local bs, bm
    local function consider(k)
      local off = 0
      while true do
        local r = redis.call('ZRANGE', k, off, off + 3, 'WITHSCORES')
        if #r == 0 then return end
        for i = 1, #r, 2 do
          local m, s = r[i], tonumber(r[i + 1])
          if not hasx or redis.call('SISMEMBER', ax, string.sub(m, 17)) == 0 then
            if not bs or s < bs or (s == bs and blt(m, bm)) then bs, bm = s, m end
            return
          end
        end
        off = off + 4
      end
    end
    for _, ch in ipairs(CHANNELS) do
      if free(x, ch) and tonumber(redis.call('HGET', P .. 'nw', ch) or '0') > 0 then
        for _, q in ipairs(queues()) do
          consider(P .. 'r:' .. q .. ':' .. ch)
          if qual[q] then consider(P .. 'w:' .. q .. ':' .. ch) end
        end
      end
    end
    if not bm then return end
    local c = contact(string.sub(bm, 17))
    take_waiting(c)
    offer(c, x)
  end
end

-- unavailable sets a non-available status and puts the contacts only
-- offered to the agent back in their queues (not routed yet: the caller
-- routes them once the agent's own state is settled). Returns them.
local function unavailable(x, st)
  x.st = st
  aset(x, 'st', st)
  local h = redis.call('HGETALL', P .. 'ac:' .. x.id)
  local ids = {}
  for i = 1, #h, 2 do
    if h[i + 1] == 'o' then ids[#ids + 1] = h[i] end
  end
  table.sort(ids, blt)
  local out = {}
  for _, id in ipairs(ids) do
    local c = contact(id)
    release(c)
    put_waiting(c)
    ev({'requeue', c.id, x.id, c.q, 'unavailable'})
    out[#out + 1] = c
  end
  index(x, true)
  return out
end

-- miss puts an offered contact back in its queue after a reject or a
-- timeout, counts the agent's miss (away at the queue's max_misses), and
-- routes what was freed.
local function miss(c, reason)
  local x = release(c)
  set_excl(c, x.id)
  put_waiting(c)
  ev({'requeue', c.id, x.id, c.q, reason})
  x.miss = x.miss + 1
  aset(x, 'miss', x.miss)
  local q = queue(c.q)
  local others = {}
  if q.maxm > 0 and x.miss >= q.maxm and x.st == 'available' then
    ev({'away', x.id})
    others = unavailable(x, 'away')
  end
  route(c)
  for _, o in ipairs(others) do route(o) end
  pull(x)
end

-- advance brings the tenant to now: contacts whose requirements relax
-- are re-filed (all first, then routed in order of relax time), then
-- reservations that ran out are missed, earliest first. Every script
-- calls it first, so no sweeper is needed for correctness.
local function advance()
  local due = redis.call('ZRANGEBYSCORE', P .. 'rlx', '-inf', NOW)
  if #due > 0 then
    local cs = {}
    for _, id in ipairs(due) do
      local c = contact(id)
      redis.call('ZREM', wkey(c), c.m)
      cset(c, 'rx', 1)
      redis.call('ZADD', wkey(c), ckey(c), c.m)
      cs[#cs + 1] = c
    end
    redis.call('ZREMRANGEBYSCORE', P .. 'rlx', '-inf', NOW)
    for _, c in ipairs(cs) do route(c) end
  end
  while true do
    local e = redis.call('ZRANGEBYSCORE', RES, '-inf', NOW, 'LIMIT', 0, 1)
    if #e == 0 then break end
    miss(contact(e[1]), 'timeout')
  end
end

-- reply: {error code or '', info, event, event, ...}
local function reply(code, info)
  local out = {code or '', info or ''}
  for _, e in ipairs(EV) do out[#out + 1] = e end
  return out
end
