-- Routing library: loaded once as the Redis Function library (engine.go
-- builds it: this file, then every operation file, each of which
-- registers one function). Everything is a local of the one chunk: Redis
-- forbids globals. The per-call state below (P, NOW, the caches, the
-- write buffer, the events) is reset by begin() at the start of every
-- call; calls never interleave, Redis runs one at a time.
--
-- Keys: every function declares exactly one key, KEYS[1], the
-- reservations zset (<P>res), which every call touches (lazy expiry);
-- every other key is built from ARGV[1], the tenant prefix
-- <prefix>rt:{t:<tenant>}:, which carries the same hash tag, so one
-- tenant's keys share one Redis Cluster slot, the declared key's. (Redis
-- Cluster checks only declared keys; the undeclared ones are safe because
-- they hash to that same slot.)
-- ARGV[2] is now in ms, from the caller, so a replay of the same calls
-- gives the same state (the Go reference model relies on that).
--
-- Keys under P:
--   q:<queue>        hash: chans, skills, prio, relax, strat, offer, maxm, rr, reo
--                    (re-offer block ms), steps ("ms=level,...": the skill
--                    steps above level 0, relax being the step to 0), pref
--                    (preferred-agent window ms),
--                    ichans (the channels the queue serves or ever served:
--                    those it has agent indexes for)
--   queues           set of queue ids
--   a:<agent>        hash: st, idle, miss, why ('missed_offers' when the miss
--                    rule set it away), np (contacts waiting for it as their
--                    preferred agent), skills, mem (the queues it qualifies
--                    for), c:<ch> capacity, l:<ch> load, h:<contact> 'o'
--                    (offered) | 'a' (assigned): the contacts it holds
--   agents           set of agent ids
--   ax:<agent>       set of contacts this agent missed last, not offered to it
--                    again until the contact's xu (the re-offer block)
--   i:<queue>:<ch>   zset of agents that qualify for the queue and can take
--                    one more <ch> contact now, for <ch> in the queue's
--                    ichans; score per the queue's strategy
--   i:<queue>|<k>:<ch>  the same for the agents that qualify only from the
--                    queue's skill step k on (their tier)
--   pool:<ch>        zset of agents that can take one more <ch> contact now,
--                    skills ignored (relaxed contacts), score idle-since
--   c:<contact>      hash: q, ch, p, enq, m, st (w|o|a), ag, exp, x, xu, rlx (next
--                    step or relax due), rx, sk (skill steps reached), pa, pu
--                    (waiting for its preferred agent pa until pu)
--   contacts         set of live contact ids
--   w:<queue>:<ch>   zset of waiting contacts within their skill requirements
--   w:<queue>|<k>:<ch>  zset of waiting contacts at skill step k
--   r:<queue>:<ch>   zset of waiting contacts whose requirements relaxed
--   pw:<agent>:<ch>  zset of contacts waiting for their preferred agent
--                    (all: score = enq - priority*AGE, member = m)
--   nw               hash <ch> -> waiting contacts, r:<ch> -> of them relaxed,
--                    so a pull skips empty channels and the relaxed scan
--   res              zset (KEYS[1]) of what falls due: contact -> reservation
--                    expiry, and r|contact -> time the requirements of a
--                    strict waiting contact relax (or reach their next skill
--                    step), x|contact -> time the re-offer block of its
--                    excluded agent ends, p|contact -> end of its wait for
--                    its preferred agent; one read
--                    tells a call that nothing is due
--   acc:<contact>    first-accept marker, kept ACC_TTL after the first accept
local KEYS, ARGV, P, NOW, RES
local CHANNELS = {'chat', 'email', 'call', 'sms', 'social', 'fax'}
-- Agent scores are primary * 2^42 + idle-since ms: exact in a double for
-- primary < 2048 and times before 2109.
local SHIFT = 4398046511104
-- One priority point is worth AGE ms of waiting (ageing).
local AGE = 60000
local ACC_TTL = 7 * 86400000
-- Per call: events, read caches (queues, queue list, agents, contacts,
-- the nw counters) and the hash write buffer (key -> {field -> value}, in
-- order of first write), flushed once at the end of the call.
local EV, QC, QL, AC, CC, NWC, WB, WK
local RLX, XU, PF = 'r|', 'x|', 'p|'
-- Kept across calls, as pure functions of strings (so never stale): per
-- tenant prefix, parsed memberships with their index keys, and pool keys.
-- Building strings and tables is what costs most in Redis' Lua, more than
-- most redis.call; the cache is dropped whole past CACHE_MAX entries.
local PC, PCN, TC = {}, 0, nil
local CACHE_MAX = 20000
-- Agent hash fields of capacity and load: field -> {is capacity, channel}.
local AF = {}
-- (At load, Redis offers few globals: no ipairs.)
for i = 1, #CHANNELS do
  local ch = CHANNELS[i]
  AF['c:' .. ch] = {true, ch}
  AF['l:' .. ch] = {false, ch}
end

local function begin(keys, args)
  KEYS, ARGV = keys, args
  P, NOW, RES = args[1], tonumber(args[2]), keys[1]
  EV, QC, QL, AC, CC, NWC, WB, WK = {}, {}, nil, {}, {}, nil, {}, {}
  TC = PC[P]
  if not TC then
    if PCN > CACHE_MAX then PC, PCN = {}, 0 end
    TC = {mem = {}, pool = {}}
    PC[P] = TC
  end
end

local function ev(e) EV[#EV + 1] = e end

-- hset buffers hash writes: each hash the call changes is written once,
-- by one HSET, at the end (flush). Reads never see the buffer: agents,
-- contacts and queues are read once per call, through their caches.
local function hset(key, ...)
  local b = WB[key]
  if not b then
    b = {}
    WB[key] = b
    WK[#WK + 1] = key
  end
  local a = {...}
  for i = 1, #a, 2 do b[a[i]] = a[i + 1] end
end

-- hdel deletes a hash field now, and any buffered write of it.
local function hdel(key, field)
  local b = WB[key]
  if b then b[field] = nil end
  redis.call('HDEL', key, field)
end

local function flush()
  for _, k in ipairs(WK) do
    local b = WB[k]
    if b then
      local f = {}
      for n, v in pairs(b) do
        f[#f + 1] = n
        f[#f + 1] = v
      end
      if #f > 0 then redis.call('HSET', k, unpack(f)) end
    end
  end
  WB, WK = {}, {}
end

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

local function queue(id)
  local q = QC[id]
  if q == nil then
    local f = redis.call('HMGET', P .. 'q:' .. id, 'chans', 'skills', 'prio', 'relax', 'strat', 'offer', 'maxm', 'rr',
      'ichans', 'reo', 'steps', 'pref')
    if not f[5] then
      q = false
    else
      q = {id = id, chans = {}, skills = kv(f[2]), prio = tonumber(f[3]), relax = tonumber(f[4]),
        strat = f[5], offer = tonumber(f[6]), maxm = tonumber(f[7]), rr = f[8] or '', ichans = f[9],
        reo = tonumber(f[10]) or 0, steps = {}, ns = 0, pref = tonumber(f[12]) or 0}
      for ch in string.gmatch(f[1], '[^,]+') do q.chans[ch] = true end
      if f[11] then
        for t, l in string.gmatch(f[11], '(%d+)=(%d+)') do q.steps[#q.steps + 1] = {tonumber(t), tonumber(l)} end
        q.ns = #q.steps
      end
    end
    QC[id] = q
  end
  return q
end

local function queues()
  if not QL then QL = redis.call('SMEMBERS', P .. 'queues') end
  return QL
end

-- nw counters (waiting contacts per channel, relaxed ones per channel),
-- read once per call (when needed) and kept up to date by nwadd.
local function nwget(f)
  if not NWC then
    NWC = {}
    local h = redis.call('HGETALL', P .. 'nw')
    for i = 1, #h, 2 do NWC[h[i]] = tonumber(h[i + 1]) end
  end
  return NWC[f] or 0
end

local function nwadd(f, d)
  local n = redis.call('HINCRBY', P .. 'nw', f, d)
  if NWC then NWC[f] = n end
end

local function free(x, ch)
  return x.st == 'available' and (x.cap[ch] or 0) > (x.ld[ch] or 0)
end

local function loadcap(x)
  local l, c = 0, 0
  for ch, v in pairs(x.cap) do c = c + v end
  for ch, v in pairs(x.ld) do l = l + v end
  return l, c
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

-- placement is where the agent belongs in the indexes, as key -> score:
-- for every channel it has room on, the pool and the index of each queue
-- it qualifies for that is indexed on the channel (m.chans: the channels
-- the queue serves or ever served, so that a contact it still holds on a
-- channel it dropped finds agents; nil, as older versions saved
-- memberships, is every channel).
local function placement(x)
  local want = {}
  for ch, cap in pairs(x.cap) do
    if cap > 0 and free(x, ch) then
      for _, m in ipairs(x.mem) do
        local k = m.keys[ch]
        if k then want[k] = score(x, m) end
      end
      local k = TC.pool[ch]
      if not k then
        k = P .. 'pool:' .. ch
        TC.pool[ch] = k
      end
      want[k] = x.idle
    end
  end
  return want
end

-- mkeys gives a membership the keys of its queue's indexes, by channel.
local function mkeys(m)
  m.keys = {}
  local base = P .. 'i:' .. m.q
  if m.tier > 0 then base = base .. '|' .. m.tier end
  for _, ch in ipairs(CHANNELS) do
    if not m.chans or m.chans[ch] then m.keys[ch] = base .. ':' .. ch end
  end
  return m
end

-- "queue,strategy,skill sum,chan/chan[,tier,steps];..." : the queues the
-- agent qualifies for, with their strategy and channels, and for a queue
-- with skill steps, the first step the agent qualifies at (tier, 0: the
-- full requirements) and the queue's number of steps.
local function parse_mem(v)
  local mem = TC.mem[v]
  if mem then return mem end
  mem = {}
  for e in string.gmatch(v, '[^;]+') do
    local f = {}
    for p in string.gmatch(e .. ',', '([^,]*),') do f[#f + 1] = p end
    local q, s, n, cs = f[1], f[2], f[3], f[4] or ''
    local m = {q = q, strat = s, sum = tonumber(n), tier = tonumber(f[5]) or 0, ns = tonumber(f[6]) or 0}
    if cs ~= '' then
      m.chans = {}
      for ch in string.gmatch(cs, '[^/]+') do m.chans[ch] = true end
      m.chanstr = cs
    end
    mem[#mem + 1] = mkeys(m)
  end
  -- Shared by the agents with this string, across calls: never changed
  -- in place (a new membership list replaces it).
  TC.mem[v] = mem
  PCN = PCN + 1
  return mem
end

-- Agents and contacts are read once per call and written through the
-- buffer. An agent also remembers where it is in the indexes (ix, as
-- placement computes it from what was read), so index writes only what
-- changed.
local function agent(id)
  local x = AC[id]
  if x == nil then
    local h = redis.call('HGETALL', P .. 'a:' .. id)
    if #h == 0 then
      x = false
    else
      x = {id = id, cap = {}, ld = {}, mem = {}, held = {}, idle = 0, miss = 0, why = '', np = 0}
      for i = 1, #h, 2 do
        local k, v = h[i], h[i + 1]
        local af = AF[k]
        if af then
          if af[1] then x.cap[af[2]] = tonumber(v) else x.ld[af[2]] = tonumber(v) end
        elseif k == 'st' then x.st = v
        elseif k == 'idle' then x.idle = tonumber(v)
        elseif k == 'miss' then x.miss = tonumber(v)
        elseif k == 'why' then x.why = v
        elseif k == 'np' then x.np = tonumber(v)
        elseif k == 'skills' then x.skills = v
        elseif k == 'mem' then x.mem = parse_mem(v)
        elseif string.sub(k, 1, 2) == 'h:' then x.held[string.sub(k, 3)] = v
        end
      end
      x.ix = placement(x)
    end
    AC[id] = x
  end
  return x
end

local function aset(x, ...)
  hset(P .. 'a:' .. x.id, ...)
end

local function contact(id)
  local c = CC[id]
  if c == nil then
    local f = redis.call('HMGET', P .. 'c:' .. id, 'q', 'ch', 'p', 'enq', 'm', 'st', 'ag', 'exp', 'x', 'rlx', 'rx', 'xu', 'sk', 'pa',
      'pu')
    if not f[1] then
      c = false
    else
      c = {id = id, q = f[1], ch = f[2], p = tonumber(f[3]), enq = tonumber(f[4]), m = f[5], st = f[6], ag = f[7],
        exp = tonumber(f[8]), x = f[9], rlx = tonumber(f[10]), rx = tonumber(f[11]), xu = tonumber(f[12]) or 0,
        sk = tonumber(f[13]) or 0, pa = f[14] or '', pu = tonumber(f[15]) or 0}
    end
    CC[id] = c
  end
  return c
end

local function cset(c, ...)
  local a = {...}
  for i = 1, #a, 2 do c[a[i]] = a[i + 1] end
  hset(P .. 'c:' .. c.id, ...)
end

-- index puts the agent where it belongs in every index it may be in (or,
-- with on false, takes it out of all), after any change to its status,
-- load, idle-since, capacity or memberships: only the entries that
-- changed are written.
local function index(x, on)
  local ix = x.ix
  local want = on and placement(x) or {}
  for k, s in pairs(want) do
    if ix[k] ~= s then
      redis.call('ZADD', k, s, x.id)
      ix[k] = s
    end
  end
  for k, s in pairs(ix) do
    if s and want[k] == nil then
      redis.call('ZREM', k, x.id)
      ix[k] = false
    end
  end
end

-- qualify returns the agent's level sum over the queue's required
-- skills, each minimum capped at cap (nil: not capped), or nil when it
-- misses one of them.
local function qualify(have, q, cap)
  local sum = 0
  for s, lvl in pairs(q.skills) do
    local h = have[s]
    if cap and cap < lvl then lvl = cap end
    if not h or h < lvl then return nil end
    sum = sum + h
  end
  return sum
end

-- tier is the first skill step of the queue the agent qualifies at (0:
-- the full requirements) with its level sum, or nil.
local function tier(x, q)
  local have = kv(x.skills)
  local sum = qualify(have, q)
  if sum then return 0, sum end
  for i = 1, q.ns do
    sum = qualify(have, q, q.steps[i][2])
    if sum then return i, sum end
  end
  return nil
end

-- membership is the agent's entry for a queue it qualifies for (nil when
-- it does not): strategy, skill sum, tier, and the channels the queue is
-- indexed on, q.ichans ("chat,email"; every channel when nil).
local function membership(x, q)
  local t, sum = tier(x, q)
  if not t then return nil end
  local m = {q = q.id, strat = q.strat, sum = sum, tier = t, ns = q.ns}
  if q.ichans then
    m.chans = {}
    for ch in string.gmatch(q.ichans, '[^,]+') do m.chans[ch] = true end
    m.chanstr = string.gsub(q.ichans, ',', '/')
  end
  return mkeys(m)
end

local function save_mem(x)
  local parts = {}
  for _, m in ipairs(x.mem) do
    local s = m.q .. ',' .. m.strat .. ',' .. m.sum
    if m.tier > 0 or m.ns > 0 then
      s = s .. ',' .. (m.chanstr or '') .. ',' .. m.tier .. ',' .. m.ns
    elseif m.chanstr then
      s = s .. ',' .. m.chanstr
    end
    parts[#parts + 1] = s
  end
  aset(x, 'mem', table.concat(parts, ';'))
end

local function wkey(c)
  if c.rx == 1 then return P .. 'r:' .. c.q .. ':' .. c.ch end
  if c.sk > 0 then return P .. 'w:' .. c.q .. '|' .. c.sk .. ':' .. c.ch end
  return P .. 'w:' .. c.q .. ':' .. c.ch
end

local function ckey(c)
  return c.enq - (queue(c.q).prio + c.p) * AGE
end

-- stepstate is where a contact of queue q stands now: the skill steps it
-- reached, whether its requirements relaxed (the step to level 0), and
-- when the next of those falls due (0: none).
local function stepstate(c, q)
  local sk, nxt = 0, 0
  for i = 1, q.ns do
    local t = c.enq + q.steps[i][1]
    if t > NOW then
      nxt = t
      break
    end
    sk = i
  end
  local rx = 0
  if nxt == 0 and q.relax > 0 then
    local t = c.enq + q.relax
    if t <= NOW then rx = 1 else nxt = t end
  end
  return sk, rx, nxt
end

-- put_waiting files the contact under its queue, at the skill step its
-- wait reached (relaxed at once if it has already waited relax_after).
local function put_waiting(c)
  local q = queue(c.q)
  local sk, rx, rlx = stepstate(c, q)
  cset(c, 'st', 'w', 'ag', '', 'exp', 0, 'rlx', rlx, 'rx', rx, 'sk', sk)
  redis.call('ZADD', wkey(c), ckey(c), c.m)
  if rlx > 0 then redis.call('ZADD', RES, rlx, RLX .. c.id) end
  nwadd(c.ch, 1)
  if rx == 1 then nwadd('r:' .. c.ch, 1) end
end

-- put_preferred makes a new contact wait for its preferred agent y until
-- pu, outside its queue: only y may take it meanwhile.
local function put_preferred(c, y, pu)
  cset(c, 'st', 'w', 'ag', '', 'exp', 0, 'pa', y.id, 'pu', pu, 'rlx', 0, 'rx', 0, 'sk', 0)
  redis.call('ZADD', P .. 'pw:' .. y.id .. ':' .. c.ch, ckey(c), c.m)
  redis.call('ZADD', RES, pu, PF .. c.id)
  y.np = y.np + 1
  aset(y, 'np', y.np)
end

local function take_waiting(c)
  if c.pa ~= '' then
    redis.call('ZREM', P .. 'pw:' .. c.pa .. ':' .. c.ch, c.m)
    redis.call('ZREM', RES, PF .. c.id)
    local y = agent(c.pa)
    if y then
      y.np = y.np - 1
      aset(y, 'np', y.np)
    end
    cset(c, 'pa', '', 'pu', 0)
    return
  end
  redis.call('ZREM', wkey(c), c.m)
  if c.rx == 1 then
    nwadd('r:' .. c.ch, -1)
  elseif c.rlx > 0 then
    redis.call('ZREM', RES, RLX .. c.id)
  end
  nwadd(c.ch, -1)
end

-- set_excl blocks agent a from being offered the contact again until the
-- re-offer time of the contact's queue has passed (x|contact in res ends
-- the block), replacing any earlier block; '' lifts the block.
local function set_excl(c, a)
  if c.x ~= '' then
    redis.call('SREM', P .. 'ax:' .. c.x, c.id)
    if a == '' then redis.call('ZREM', RES, XU .. c.id) end
  end
  if a ~= '' then
    local xu = NOW + queue(c.q).reo
    cset(c, 'x', a, 'xu', xu)
    redis.call('SADD', P .. 'ax:' .. a, c.id)
    redis.call('ZADD', RES, xu, XU .. c.id)
  else
    cset(c, 'x', '', 'xu', 0)
  end
end

local function drop(c)
  if c.x ~= '' then
    redis.call('SREM', P .. 'ax:' .. c.x, c.id)
    redis.call('ZREM', RES, XU .. c.id)
  end
  local k = P .. 'c:' .. c.id
  WB[k] = nil
  redis.call('DEL', k)
  redis.call('SREM', P .. 'contacts', c.id)
  CC[c.id] = false
end

-- offer reserves a contact (not waiting any more) for one agent.
local function offer(c, x)
  local q = queue(c.q)
  local exp = NOW + q.offer
  cset(c, 'st', 'o', 'ag', x.id, 'exp', exp)
  redis.call('ZADD', RES, exp, c.id)
  x.ld[c.ch] = (x.ld[c.ch] or 0) + 1
  x.idle = NOW
  x.held[c.id] = 'o'
  aset(x, 'l:' .. c.ch, x.ld[c.ch], 'idle', NOW, 'h:' .. c.id, 'o')
  index(x, true)
  -- The round-robin cursor moves on every offer from the queue, whatever
  -- its strategy, so a later switch to round_robin starts where it is.
  q.rr = x.id
  hset(P .. 'q:' .. c.q, 'rr', x.id)
  ev({'offer', c.id, x.id, c.q, c.ch, exp})
end

-- release frees the agent's capacity held by an offered or assigned
-- contact; it returns the agent.
local function release(c)
  local x = agent(c.ag)
  x.held[c.id] = nil
  hdel(P .. 'a:' .. x.id, 'h:' .. c.id)
  -- An assigned contact's reservation went at the accept.
  if c.st ~= 'a' then redis.call('ZREM', RES, c.id) end
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
-- missed the contact last while its re-offer block lasts.
local function pick(c)
  local q = queue(c.q)
  local id
  -- The agents of each tier the contact's step reached, best tier first.
  for j = 0, c.sk do
    local k = P .. 'i:' .. c.q .. ':' .. c.ch
    if j > 0 then k = P .. 'i:' .. c.q .. '|' .. j .. ':' .. c.ch end
    if q.strat == 'round_robin' then
      if q.rr ~= '' then id = first_not(redis.call('ZRANGEBYLEX', k, '(' .. q.rr, '+', 'LIMIT', 0, 2), c.x) end
      if not id then id = first_not(redis.call('ZRANGEBYLEX', k, '-', '+', 'LIMIT', 0, 2), c.x) end
    else
      id = first_not(redis.call('ZRANGE', k, 0, 1), c.x)
    end
    if id then return id end
  end
  if c.rx == 1 then id = first_not(redis.call('ZRANGE', P .. 'pool:' .. c.ch, 0, 1), c.x) end
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
-- enqueue, then contact id (the zset member order). Relaxed contacts of
-- any queue on the channel (scanned only when there are some), strict
-- ones of the queues it qualifies for that serve the channel.
local function pull(x)
  while x.st == 'available' do
    local ax = P .. 'ax:' .. x.id
    local hasx
    local bs, bm
    local function consider(k)
      if hasx == nil then hasx = redis.call('EXISTS', ax) == 1 end
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
      if free(x, ch) and nwget(ch) > 0 then
        if nwget('r:' .. ch) > 0 then
          for _, q in ipairs(queues()) do consider(P .. 'r:' .. q .. ':' .. ch) end
        end
        if nwget(ch) > nwget('r:' .. ch) then
          for _, m in ipairs(x.mem) do
            if not m.chans or m.chans[ch] then
              if m.tier == 0 then consider(P .. 'w:' .. m.q .. ':' .. ch) end
              for s = math.max(1, m.tier), m.ns do consider(P .. 'w:' .. m.q .. '|' .. s .. ':' .. ch) end
            end
          end
        end
      end
      if x.np > 0 and free(x, ch) then consider(P .. 'pw:' .. x.id .. ':' .. ch) end
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
  local ids = {}
  for id, v in pairs(x.held) do
    if v == 'o' then ids[#ids + 1] = id end
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

-- unprefer sends the contacts waiting for agent x as their preferred
-- agent to their queues (x went offline), by contact id; they are routed
-- by the caller. Returns them.
local function unprefer(x)
  local cs = {}
  if x.np == 0 then return cs end
  for _, ch in ipairs(CHANNELS) do
    for _, m in ipairs(redis.call('ZRANGE', P .. 'pw:' .. x.id .. ':' .. ch, 0, -1)) do
      cs[#cs + 1] = contact(string.sub(m, 17))
    end
  end
  table.sort(cs, function(a, b) return blt(a.id, b.id) end)
  for _, c in ipairs(cs) do
    take_waiting(c)
    put_waiting(c)
  end
  return cs
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
    ev({'away', x.id, 'missed_offers', x.miss})
    others = unavailable(x, 'away')
    x.why = 'missed_offers'
    aset(x, 'why', x.why)
  end
  route(c)
  for _, o in ipairs(others) do route(o) end
  pull(x)
end

-- unblock ends a contact's re-offer block: the agent that missed it may
-- be offered it again, and a waiting contact is routed (to that agent
-- when it is the only eligible one).
local function unblock(c)
  set_excl(c, '')
  route(c)
end

-- advance brings the tenant to now: contacts whose requirements relax
-- are re-filed (all first, then routed in order of relax time), then
-- reservations that ran out are missed and re-offer blocks that ended are
-- lifted, in order of time (then of res member). Every call does so
-- first, so no sweeper is needed for correctness.
local function advance()
  local due = redis.call('ZRANGEBYSCORE', RES, '-inf', NOW)
  if #due == 0 then return end
  local rl, cs = {}, {}
  for _, m in ipairs(due) do
    if string.sub(m, 1, 2) == RLX then
      rl[#rl + 1] = m
      local c = contact(string.sub(m, 3))
      redis.call('ZREM', wkey(c), c.m)
      local sk, rx, nxt = stepstate(c, queue(c.q))
      if rx == 1 and c.rx ~= 1 then nwadd('r:' .. c.ch, 1) end
      cset(c, 'sk', sk, 'rx', rx, 'rlx', nxt)
      redis.call('ZADD', wkey(c), ckey(c), c.m)
      cs[#cs + 1] = c
    end
  end
  for i = 1, #rl, 500 do redis.call('ZREM', RES, unpack(rl, i, math.min(i + 499, #rl))) end
  for _, c in ipairs(cs) do
    if c.rlx > 0 then redis.call('ZADD', RES, c.rlx, RLX .. c.id) end
  end
  for _, c in ipairs(cs) do route(c) end
  -- Relaxing only adds reservations that are not due yet, and relax times
  -- that are not due (put_waiting relaxes at once what is), so what is due
  -- now are expiries and ends of re-offer blocks (a block of 0 s, set by a
  -- timeout here, ends in this loop too).
  while true do
    local e = redis.call('ZRANGEBYSCORE', RES, '-inf', NOW, 'LIMIT', 0, 1)
    if #e == 0 then break end
    local m = e[1]
    local pre = string.sub(m, 1, 2)
    if pre == XU then
      unblock(contact(string.sub(m, 3)))
    elseif pre == PF then
      -- The wait for the preferred agent is over: on to the queue.
      local c = contact(string.sub(m, 3))
      take_waiting(c)
      put_waiting(c)
      route(c)
    else
      miss(contact(m), 'timeout')
    end
  end
end

-- reply: {error code or '', info, event, event, ...}, after writing the
-- buffered hash fields (a refusal keeps what advance changed).
local function reply(code, info)
  flush()
  local out = {code or '', info or ''}
  for _, e in ipairs(EV) do out[#out + 1] = e end
  return out
end

-- register makes an operation a function of the library, named
-- <LIB>_<name> (LIB, the library's versioned name, is defined by
-- engine.go before this file). op returns an error code (or '') and an
-- info string; a raw op returns its reply itself.
local function register(name, op, raw)
  local cb
  if raw then
    cb = function(keys, args)
      begin(keys, args)
      return op()
    end
  else
    cb = function(keys, args)
      begin(keys, args)
      return reply(op())
    end
  end
  local flags = {}
  if raw then flags = {'no-writes'} end
  redis.register_function{function_name = LIB .. '_' .. name, callback = cb, flags = flags}
end
