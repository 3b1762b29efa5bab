"""The Lua scripts of the shared quota store: each check-and-count is one atomic step.

Time comes from the Redis server (TIME), so replicas with skewed clocks agree on windows
and hold expiry. Money is integer micro-dollars. A hold is a field of the slot's `holds`
hash, "<micros>:h" while its call runs or "<micros>:w" once charged and while its spend
row is being written; the `expiry` sorted set gives each hold its deadline, pushed back
while its replica lives. Expired holds are purged by whoever looks next.
"""

from __future__ import annotations

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_PURGE_AND_SUM = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, id in ipairs(expired) do redis.call('HDEL', KEYS[2], id) end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now) end
local held = 0
local writing = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do
  held = held + tonumber(string.match(v, '^(%d+)'))
  if string.sub(v, -1) == 'w' then writing = 1 end
end
"""

# KEYS: holds, expiry, writes. ARGV: hold id, "<micros>:<h|w>", hold ttl ms, count a write.
# Also re-creates a hold that a flush of Redis lost, so that live calls count again.
REFRESH = (
    _NOW
    + """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 4 * tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[2], 4 * tonumber(ARGV[3]))
if ARGV[4] == '1' then redis.call('INCR', KEYS[3]) end
return 1
"""
)

# KEYS: committed, holds, expiry. ARGV: hold id, charged micros.
# The spend row is in the database: the hold becomes committed spend. When the committed
# amount is absent it will be seeded from the database, which has the row already.
FINALIZE = """
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(ARGV[2]) > 0 then
  redis.call('INCRBY', KEYS[1], ARGV[2])
end
return 1
"""

# KEYS: committed, holds, expiry, writes. A seeder reads this before it sums the database.
SEED_PROBE = (
    _NOW
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return {'seeded', 0, 0} end
"""
    + _PURGE_AND_SUM
    + """
return {'probe', tonumber(redis.call('GET', KEYS[4]) or '0'), writing}
"""
)

# KEYS: committed, holds, expiry, writes. ARGV: summed micros, writes seen by the probe,
# seconds to keep (0: no end). The sum is exact only if no spend row was being written
# between the probe and now: no hold in "writing" and no new write started.
SEED_SET = (
    _NOW
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'seeded' end
"""
    + _PURGE_AND_SUM
    + """
if writing == 1 or tonumber(redis.call('GET', KEYS[4]) or '0') ~= tonumber(ARGV[2]) then
  return 'retry'
end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 'seeded'
"""
)

# KEYS: epoch, reseed lock. ARGV: wait ms. The epoch marker vanishes with a flush or a
# restart of Redis; whoever finds it gone starts a pause in which every live replica
# re-creates its holds (REFRESH) before any budget is seeded again.
EPOCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], '1')
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
  return tonumber(ARGV[1])
end
local left = redis.call('PTTL', KEYS[2])
if left < 0 then return 0 end
return left
"""


_WINDOW = """
local cutoff = now - 60000
local expired = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', cutoff)
if #expired > 0 then
  local freed = 0
  for _, m in ipairs(expired) do freed = freed + tonumber(string.match(m, ':(%d+)$')) end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', cutoff)
  redis.call('DECRBY', KEYS[5], freed)
end
local count = redis.call('ZCARD', KEYS[4])
if count == 0 then redis.call('DEL', KEYS[5]) end
local rpm = tonumber(ARGV[5])
local ipm = tonumber(ARGV[6])
local images = tonumber(ARGV[7])
if rpm >= 0 and count >= rpm then
  local at = redis.call('ZRANGE', KEYS[4], count - rpm, count - rpm, 'WITHSCORES')
  return {'rpm', tonumber(at[2]) + 60000 - now, 0}
end
if ipm >= 0 then
  local used = tonumber(redis.call('GET', KEYS[5]) or '0')
  if used + images > ipm then
    -- Only a refusal walks the window, to tell when enough images leave it.
    local calls = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
    local freed = 0
    for i = 1, #calls, 2 do
      freed = freed + tonumber(string.match(calls[i], ':(%d+)$'))
      if used - freed + images <= ipm then
        return {'ipm', tonumber(calls[i + 1]) + 60000 - now, 0}
      end
    end
    return {'ipm', 60000, 0}
  end
end
"""

# KEYS: committed, holds, expiry, rate window (a sorted set, one "<id>:<images>" member per
# call, scored by time), images in the window (a running sum, so that admitting does not
# walk the window). ARGV: hold id, micros (-1: no budget), budget micros, hold ttl ms,
# rpm (-1: none), ipm (-1: none), images, call id.
# One round trip per request: the budget is checked, then the rate window, and only when
# both admit is the hold taken and the call counted (as the memory store does in turn).
TAKE = (
    _NOW
    + """
local amount = tonumber(ARGV[2])
local committed = 0
local held = 0
if amount >= 0 then
  committed = redis.call('GET', KEYS[1])
  if not committed then return {'unseeded', 0, 0} end
  committed = tonumber(committed)
"""
    + _PURGE_AND_SUM
    + """
  if committed + held + amount > tonumber(ARGV[3]) then return {'over', committed, held} end
end
if tonumber(ARGV[5]) >= 0 or tonumber(ARGV[6]) >= 0 then
"""
    + _WINDOW
    + """
  redis.call('ZADD', KEYS[4], now, ARGV[8] .. ':' .. ARGV[7])
  redis.call('INCRBY', KEYS[5], ARGV[7])
  redis.call('PEXPIRE', KEYS[4], 61000)
  redis.call('PEXPIRE', KEYS[5], 61000)
end
if amount >= 0 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':h')
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[1])
  redis.call('PEXPIRE', KEYS[2], 4 * tonumber(ARGV[4]))
  redis.call('PEXPIRE', KEYS[3], 4 * tonumber(ARGV[4]))
end
return {'ok', committed, held}
"""
)


# KEYS: the key's requests lease set, its streams lease set (sorted sets of lease ids
# scored by expiry). ARGV: lease id, lease ttl ms, max requests (-1: none), max streams
# (-1: none), '1' for a stream. Expired leases (their replica died) are purged first; the
# lease goes into both sets or neither.
LEASE_TAKE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local maxreq = tonumber(ARGV[3])
local maxstr = tonumber(ARGV[4])
if maxreq >= 0 and redis.call('ZCARD', KEYS[1]) >= maxreq then return 'requests' end
local stream = ARGV[5] == '1'
if stream and maxstr >= 0 and redis.call('ZCARD', KEYS[2]) >= maxstr then return 'streams' end
local deadline = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], deadline, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 4 * tonumber(ARGV[2]))
if stream then
  redis.call('ZADD', KEYS[2], deadline, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], 4 * tonumber(ARGV[2]))
end
return 'ok'
"""
)

# KEYS: the lease sets the lease is in. ARGV: lease id, lease ttl ms. Pushes the deadline
# back; re-creates a lease that a flush of Redis lost, so that live calls count again
# (the releaser stops this refresh before it releases, so nothing is brought back).
LEASE_REFRESH = (
    _NOW
    + """
for _, k in ipairs(KEYS) do
  redis.call('ZADD', k, now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', k, 4 * tonumber(ARGV[2]))
end
return 1
"""
)

# KEYS: the lease sets the lease is in. ARGV: lease id.
LEASE_RELEASE = """
for _, k in ipairs(KEYS) do redis.call('ZREM', k, ARGV[1]) end
return 1
"""
