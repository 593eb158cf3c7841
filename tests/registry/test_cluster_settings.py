"""registry.cluster: what a Redis Cluster needs of the config, refused with the key named;
and a cluster's settings reaching the registry a gateway gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import make_config
from wsgate.config.files import load_config
from wsgate.config.model import RegistrySettings
from wsgate.exceptions import ConfigError
from wsgate.registry.redis import RedisRegistry
from wsgate.registry.redis_keys import Keys
from wsgate.server.gateway import build_gateway


@pytest.mark.parametrize(
    ("registry", "message"),
    [
        (
            '{backend: redis, cluster: true, url: "unix:///run/redis.sock"}',
            "registry.url: a Redis Cluster is reached over TCP: expected a redis:// or "
            "rediss:// URL of one of its nodes with cluster: true, got a unix:// one",
        ),
        (
            '{backend: redis, cluster: true, url: "redis://h:7000/3"}',
            "registry.url: a Redis Cluster has database 0 only: with cluster: true the URL "
            "may name no other database",
        ),
        (
            '{backend: redis, cluster: true, url: "rediss://:pw@h:7000/0?db=2"}',
            "registry.url: a Redis Cluster has database 0 only",
        ),
        ("{cluster: true}", "registry.cluster: true needs backend: redis"),
        (
            '{backend: redis, prefix: "a{b}"}',
            "registry.prefix: may not hold { or }: the prefix is made the keys' hash tag",
        ),
    ],
)
def test_a_cluster_config_that_cannot_work_is_refused(
    tmp_path: Path, registry: str, message: str
) -> None:
    config = tmp_path / "wsgate.yaml"
    config.write_text(f"registry: {registry}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(config)
    assert f"wsgate.yaml: {message}" in str(refused.value)
    assert "pw" not in str(refused.value)


def test_a_cluster_reaches_the_registry() -> None:
    """registry.cluster and the URL of one node reach the Redis registry a gateway gets;
    its keys share the stage's hash tag."""
    settings = RegistrySettings(backend="redis", cluster=True, url="redis://10.0.0.5:7000")
    gateway = build_gateway(make_config().model_copy(update={"registry": settings}))
    registry = gateway.registry
    assert isinstance(registry, RedisRegistry)
    assert (registry.cluster, registry.url) == (True, "redis://10.0.0.5:7000")
    gateway.runners.threads.shutdown()


def test_every_name_shares_the_hash_tag() -> None:
    keys = Keys.under("wsgate:api:dev:")
    names = [
        keys.leases,
        keys.nodes,
        keys.recovering,
        keys.conn("AAAA"),
        keys.entries("n1"),
        keys.tombstone("n1"),
        keys.inbox("n1"),
    ]
    assert all(name.startswith("{wsgate:api:dev}:") for name in names)
    for prefix in ("a{b", "}", ":"):
        with pytest.raises(ValueError):
            Keys.under(prefix)
