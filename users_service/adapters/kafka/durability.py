"""Whether the topics are as durable as the cluster allows: read once at start, warned
about in the log (a misconfiguration, not a reason to refuse to start)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType


@dataclass(frozen=True)
class TopicDurability:
    """A topic's replication factor and its effective min.insync.replicas."""

    replication_factor: int
    min_insync_replicas: int


def durability_warnings(brokers: int, topics: Mapping[str, TopicDurability]) -> list[str]:
    """What is less durable than it could be. On a cluster of three brokers or more a
    topic needs RF >= 3, and with RF > 1 min.insync.replicas >= 2, or an acknowledged
    event can be lost with one broker."""
    if brokers < 2:
        return []  # one broker: nothing to replicate to
    warnings = []
    for name, topic in sorted(topics.items()):
        if brokers >= 3 and topic.replication_factor < 3:
            warnings.append(
                f"topic {name} has replication factor {topic.replication_factor} on a cluster "
                f"of {brokers} brokers: losing one broker can lose acknowledged events "
                "(KAFKA_REPLICATION_FACTOR=3 for new topics; reassign existing ones)"
            )
        if topic.min_insync_replicas < 2:
            warnings.append(
                f"topic {name} has min.insync.replicas={topic.min_insync_replicas}: acks=all "
                "then waits for the leader alone, and its loss loses what it acknowledged "
                "(set min.insync.replicas=2 on the topic or the brokers)"
            )
    return warnings


async def read_durability(
    brokers: Sequence[str], topics: Sequence[str], options: Mapping[str, Any], timeout: float
) -> tuple[int, dict[str, TopicDurability]]:
    """(brokers in the cluster, each topic's replication factor and min.insync.replicas)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=list(brokers), request_timeout_ms=int(timeout * 1000), **options
    )
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        described = await admin.describe_topics(list(topics))
        factors = {
            t["topic"]: max((len(p["replicas"]) for p in t["partitions"]), default=0)
            for t in described
            if t["error_code"] == 0
        }
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in factors]
        )
        min_isr: dict[str, int] = {}
        for response in responses:
            for resource in response.to_object()["resources"]:
                for entry in resource["config_entries"]:
                    if entry["config_names"] == "min.insync.replicas":
                        min_isr[resource["resource_name"]] = int(entry["config_value"])
    finally:
        await admin.close()
    return len(cluster["brokers"]), {
        name: TopicDurability(factor, min_isr.get(name, 1)) for name, factor in factors.items()
    }
