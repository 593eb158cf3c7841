"""The Redis registry's Lua scripts. Each runs atomically, in one round trip.

Every key a script touches is in its KEYS, and all of them share the namespace's hash tag
(``redis_keys``), so that a Redis Cluster runs each script on the node serving that one
slot. The one name a script makes itself is a node's inbox in ``_DELIVER``: a channel,
not a key, under the same tag, so its (sharded) publish stays on that node too.

A lease is a field of the leases hash holding when it ends, on Redis's clock (``TIME``):
a script that finds an owner in the directory checks the owner's lease in a key it was
handed, where a key per node could not be.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


__all__ = [
    "ADVERTISE",
    "CLAIM",
    "DELIVER",
    "ENTER",
    "FIND_DEAD",
    "JOIN",
    "LEAVE",
    "RELEASE",
    "RENEW",
    "REAP",
    "SCRIPTS",
    "Script",
]


@dataclass(frozen=True, slots=True)
class Script:
    """A script's source and the SHA1 that ``EVALSHA`` names it by."""

    source: str
    sha: str

    @classmethod
    def of(cls, source: str) -> Script:
        return cls(source, hashlib.sha1(source.encode()).hexdigest())


# now(): Redis's clock in ms. alive(leases, id, now): the node's lease runs.
# hold(leases, id, now, ms): take or renew it; the hash outlives the longest lease in it.
_LEASES = """
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function alive(leases, id, at)
  local ends = redis.call('HGET', leases, id)
  return ends ~= false and tonumber(ends) > at
end
local function hold(leases, id, at, ms)
  redis.call('HSET', leases, id, at + tonumber(ms))
  if redis.call('PTTL', leases) < tonumber(ms) then redis.call('PEXPIRE', leases, ms) end
end
"""

# Hand a request to the node that owns the connection, in one round trip: the number of
# processes that received it (0: the owner's process ended), -1 when no live node other
# than the asking one owns the id, -3 when its owner's lease lapsed (the entry is deleted;
# the owner's connections are orphans to reap), or -2 when the directory cannot tell:
# the asking node's own lease is missing (Redis lost its keys, or this node stalled past
# its lease: either way the owner may not have entered its connections again yet) or a
# re-entry window is open (the recovering key, see RENEW). With a node to pass over (the
# one the link already asked), -4 instead of publishing when that node is the owner and
# its lease runs.
# KEYS: conn key, leases, recovering key.
# ARGV: inbox prefix, the asking node's id, the request, the publish command, the node to
# pass over or ''.
DELIVER = Script.of(
    _LEASES
    + """
local at = now()
local function unsure()
  return not alive(KEYS[2], ARGV[2], at) or redis.call('EXISTS', KEYS[3]) == 1
end
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[2] then return -1 end
if not owner then
  if unsure() then return -2 end
  return -1
end
if not alive(KEYS[2], owner, at) then
  if unsure() then return -2 end
  redis.call('DEL', KEYS[1])
  return -3
end
if owner == ARGV[5] then return -4 end
local received = redis.call(ARGV[4], ARGV[1] .. owner, ARGV[3])
if received == 0 and unsure() then return -2 end
return received
"""
)

# Point the entry at this node unless another node with a live lease owns it: 1, else 0;
# with a context, also keep it in this node's entries (a hash of connectionId to context)
# and list the node in the nodes set (the nodes with entries).
# KEYS: conn key, this node's entries, nodes set, leases. ARGV: node id, TTL in ms,
# connection id, the encoded context or ''.
CLAIM = Script.of(
    _LEASES
    + """
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] and alive(KEYS[4], owner, now()) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[1])
end
return 1
"""
)

# Keep a registered connection's context in this node's entries.
# KEYS: this node's entries, nodes set. ARGV: connection id, encoded context, TTL in ms,
# node id.
ENTER = Script.of(
    """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('SADD', KEYS[2], ARGV[4])
"""
)

# Forget a connection of this node: its context (the node leaves the nodes set with its
# last one), and the entry if it still points at this node.
# KEYS: conn key, this node's entries, nodes set. ARGV: node id, connection id.
RELEASE = Script.of(
    """
redis.call('HDEL', KEYS[2], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
)

# A node that stops: its lease, entries and link advert go, and it leaves the nodes set.
# KEYS: leases, this node's entries, nodes set, links. ARGV: node id, its tag, its advert.
LEAVE = Script.of(
    """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
if redis.call('HGET', KEYS[4], ARGV[2]) == ARGV[3] then redis.call('HDEL', KEYS[4], ARGV[2]) end
return redis.call('SREM', KEYS[3], ARGV[1])
"""
)

# Advertise this node's link under its tag, unless another node whose lease runs holds the
# tag; keep the cluster's link secret (the first node's proposal stays). Returns
# {1 or 0 (the tag is another's: take a new one), the secret}.
# KEYS: links, leases, secret. ARGV: tag, advert ("NODE HOST:PORT"), proposed secret.
ADVERTISE = Script.of(
    _LEASES
    + """
local took = 1
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and held ~= ARGV[2] then
  local other = string.match(held, '^(%S+)')
  if other and alive(KEYS[2], other, now()) then took = 0 end
end
if took == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('SET', KEYS[3], ARGV[3], 'NX')
return {took, redis.call('GET', KEYS[3])}
"""
)

# Renew this node's lease, or take it again if it lapsed. Returns 1 (renewed), 0 (it had
# lapsed: the node writes its entries again; until a lease from now a directory miss is
# not taken for Gone: the recovering key, the re-entry window) or -1 (it had lapsed and
# other nodes reaped this node's connections: its tombstone said so).
# KEYS: leases, recovering key, this node's tombstone. ARGV: lease in ms, window in ms,
# node id.
RENEW = Script.of(
    _LEASES
    + """
local at = now()
local held = alive(KEYS[1], ARGV[3], at)
hold(KEYS[1], ARGV[3], at, ARGV[1])
if held then return 1 end
if redis.call('DEL', KEYS[3]) == 1 then return -1 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 0
"""
)

# Take the lease of a node that starts. Other nodes listening on their inboxes without a
# lease mean Redis lost its keys under them: open the re-entry window.
# KEYS: leases, recovering key. ARGV: lease in ms, window in ms, node id, then the ids of
# the nodes listening.
JOIN = Script.of(
    _LEASES
    + """
local at = now()
hold(KEYS[1], ARGV[3], at, ARGV[1])
for i = 4, #ARGV do
  if not alive(KEYS[1], ARGV[i], at) then
    redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
    return 0
  end
end
return 1
"""
)

# The nodes with entries whose lease lapsed, this one excepted. The lapsed leases of
# nodes without entries are forgotten: nothing is left to reap of them; nor are the link
# adverts of nodes without a lease.
# KEYS: nodes set, leases, links. ARGV: this node's id.
FIND_DEAD = Script.of(
    _LEASES
    + """
local at = now()
local dead = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if id ~= ARGV[1] and not alive(KEYS[2], id, at) then table.insert(dead, id) end
end
local leases = redis.call('HGETALL', KEYS[2])
for i = 1, #leases, 2 do
  if tonumber(leases[i + 1]) <= at and redis.call('SISMEMBER', KEYS[1], leases[i]) == 0 then
    redis.call('HDEL', KEYS[2], leases[i])
  end
end
local links = redis.call('HGETALL', KEYS[3])
for i = 1, #links, 2 do
  local node = string.match(links[i + 1], '^(%S+)')
  if not node or redis.call('HEXISTS', KEYS[2], node) == 0 then
    redis.call('HDEL', KEYS[3], links[i])
  end
end
return dead
"""
)

# Claim connections of a dead node, atomically: each one still in its entries is taken off
# them (so that no other node claims it too) and its directory entry deleted if it still
# names the dead node. Returns {1, id1, context1, ...}, or {0} if the node took its lease
# again. The tombstone tells the node, should it come back, that its connections were
# reaped; once it has no entries it leaves the nodes set. The caller read the ids from
# the entries (HSCAN): their directory keys must be in KEYS.
# KEYS: leases, dead node's entries, its tombstone, nodes set, then the conn key of each
# id. ARGV: dead node's id, tombstone TTL in ms, then the ids.
REAP = Script.of(
    _LEASES
    + """
if alive(KEYS[1], ARGV[1], now()) then return {0} end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
local claimed = {1}
for i = 3, #ARGV do
  local id = ARGV[i]
  local context = redis.call('HGET', KEYS[2], id)
  if context then
    redis.call('HDEL', KEYS[2], id)
    if redis.call('GET', KEYS[i + 2]) == ARGV[1] then redis.call('DEL', KEYS[i + 2]) end
    table.insert(claimed, id)
    table.insert(claimed, context)
  end
end
if redis.call('HLEN', KEYS[2]) == 0 then redis.call('SREM', KEYS[4], ARGV[1]) end
return claimed
"""
)

SCRIPTS = (DELIVER, CLAIM, ENTER, RELEASE, LEAVE, RENEW, JOIN, FIND_DEAD, REAP, ADVERTISE)
"""Every script, loaded when a node starts."""
