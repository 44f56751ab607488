"""The start-up warning about topics less durable than their cluster allows."""

from __future__ import annotations

from users_service.adapters.kafka.durability import TopicDurability, durability_warnings


def test_one_broker_warns_of_nothing() -> None:
    assert durability_warnings(1, {"user.created": TopicDurability(1, 1)}) == []


def test_a_cluster_of_three_wants_rf_3_and_min_insync_2() -> None:
    warnings = durability_warnings(
        3,
        {
            "user.created": TopicDurability(1, 1),
            "user.create": TopicDurability(3, 1),
            "user.create.dlq": TopicDurability(3, 2),
        },
    )
    assert len(warnings) == 3
    assert any("user.created has replication factor 1" in w for w in warnings)
    assert any("user.created has min.insync.replicas=1" in w for w in warnings)
    assert any("user.create has min.insync.replicas=1" in w for w in warnings)
    assert not any("user.create.dlq" in w for w in warnings)


def test_two_brokers_cannot_have_rf_3_but_still_want_min_insync_2() -> None:
    assert durability_warnings(2, {"t": TopicDurability(2, 2)}) == []
    assert len(durability_warnings(2, {"t": TopicDurability(2, 1)})) == 1
