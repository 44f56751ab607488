"""The app's partitioner: Kafka's default partitioning exactly, only faster."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from streamapp.app import app
from users_service.adapters.kafka.partitioner import KafkaPartitioner, murmur2


def test_murmur2_is_kafkas_for_keys_of_every_length() -> None:
    rng = random.Random(13)
    for length in range(80):
        for _ in range(50):
            key = rng.randbytes(length)
            assert murmur2(key) == aiokafka_murmur2(key), key


def test_a_key_lands_on_the_partition_kafkas_default_partitioner_picks() -> None:
    ours, theirs = KafkaPartitioner(), DefaultPartitioner()
    rng = random.Random(7)
    for count in (1, 3, 6, 16):
        partitions = list(range(count))
        for _ in range(200):
            key = str(rng.getrandbits(128)).encode()
            assert ours(key, partitions, partitions) == theirs(key, partitions, partitions)
    assert ours(None, [0, 1, 2], [1]) == 1  # no key: an available partition


def test_the_app_produces_with_it() -> None:
    # A Param descriptor whose value is a callable: mypy binds it as a method (Faust's own
    # producer silences the same).
    partitioner = app.conf.producer_partitioner  # type: ignore[misc]
    assert isinstance(partitioner, KafkaPartitioner)
