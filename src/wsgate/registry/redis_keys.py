"""The names of the Redis registry's keys and channels. Pure: no I/O.

Every name of one namespace (the prefix: an API's stage) starts with the prefix in braces
(its trailing colon after them), a Redis Cluster hash tag: all of them hash to one slot,
so every script runs on the one node that serves it, and the nodes' channels live there
too. With the prefix ``wsgate:api:dev:``:

    {wsgate:api:dev}:leases         node id -> the end of its lease (ms, Redis's clock)
    {wsgate:api:dev}:conn:ID        the directory: the id of the node owning connection ID
    {wsgate:api:dev}:conns:NODE     a node's connections: connectionId -> what $disconnect
                                    needs
    {wsgate:api:dev}:nodes          the nodes that have connections (a set), for the sweep
    {wsgate:api:dev}:recovering     while it exists (a lease), a directory miss is not Gone
    {wsgate:api:dev}:reaped:NODE    tombstone: other nodes ran the $disconnect of the node's
                                    connections
    {wsgate:api:dev}:links          a node's tag -> "NODE HOST:PORT": where its link listens
    {wsgate:api:dev}:secret         the secret that the nodes' links prove they hold
    {wsgate:api:dev}:inbox:NODE     (channel) operations on the node's connections, and the
                                    replies to the node's own operations
"""

from __future__ import annotations

from dataclasses import dataclass


__all__ = ["Keys"]


@dataclass(frozen=True, slots=True)
class Keys:
    """The names under one prefix."""

    start: str
    """``{prefix}:``: the start of every name."""

    @classmethod
    def under(cls, prefix: str) -> Keys:
        """The names under ``prefix``.

        Raises:
            ValueError: ``prefix`` holds a brace, which would change the hash tag, or is
                only colons, which would leave it empty (no tag: keys in every slot).
        """
        if "{" in prefix or "}" in prefix:
            raise ValueError(f"a prefix may not hold {{ or }}, got {prefix!r}")
        tag = prefix.rstrip(":")
        if not tag:
            raise ValueError(f"a prefix needs more than colons, got {prefix!r}")
        return cls(f"{{{tag}}}:")

    @property
    def leases(self) -> str:
        return f"{self.start}leases"

    @property
    def nodes(self) -> str:
        return f"{self.start}nodes"

    @property
    def recovering(self) -> str:
        return f"{self.start}recovering"

    @property
    def links(self) -> str:
        return f"{self.start}links"

    @property
    def secret(self) -> str:
        return f"{self.start}secret"

    def conn(self, connection_id: str) -> str:
        return f"{self.start}conn:{connection_id}"

    def entries(self, node_id: str) -> str:
        return f"{self.start}conns:{node_id}"

    def tombstone(self, node_id: str) -> str:
        return f"{self.start}reaped:{node_id}"

    def inbox(self, node_id: str) -> str:
        """A node's channel; ``inbox("*")`` is the pattern of every node's."""
        return f"{self.start}inbox:{node_id}"
