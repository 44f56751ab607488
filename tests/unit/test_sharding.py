"""Outbox shards: the stored hash must never change, and shares must cover every shard."""

from __future__ import annotations

import zlib

import pytest

from users_service.domain.sharding import Shard, fair_share, key_hash


def test_the_key_hash_is_crc32_and_the_same_in_every_process() -> None:
    # Stored with every outbox row: a different function would move keys between shards
    # under rows already written, and split a key between two relays.
    key = "01a2272a-a139-7883-8914-df28e441380a"
    assert key_hash(key) == zlib.crc32(key.encode()) & 0x7FFFFFFF
    assert 0 <= key_hash("\uffff" * 255) < 2**31


@pytest.mark.parametrize(("shards", "relays"), [(16, 1), (16, 3), (16, 16), (16, 40), (1, 5)])
def test_fair_shares_cover_every_shard(shards: int, relays: int) -> None:
    assert fair_share(shards, relays) * relays >= shards
    assert fair_share(shards, relays) >= 1


def test_one_shard_is_the_single_relay_lease_under_its_old_name() -> None:
    assert Shard(0, 1).lease_name == "outbox-relay"
    assert Shard(3, 16).lease_name == "outbox-relay:3/16"
    assert Shard(3, 16).holds(16 * 7 + 3) and not Shard(3, 16).holds(4)
    with pytest.raises(ValueError):
        Shard(16, 16)
