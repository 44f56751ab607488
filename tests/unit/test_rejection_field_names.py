"""Found by the adversarial run: a command whose unknown field is *named* like a bcrypt
hash gets a rejection on user.create.rejected that names that field verbatim (seen on
the broker: `"fields": {"password": "is required", "$2b$04$Kir/…": "unknown field"}`).
A bcrypt hash is 60 characters, within the 64 a rejection keeps of a name. docs/security.md:
no password or bcrypt hash in any event."""

from __future__ import annotations

from users_service.domain.commands import bounded_problems

HASH = "$2b$04$Kir/YHXCuxX0yYcTandWh.Qlc6r.yfkn6Xud0t0CqAJp/w7oM8.Kq"


def test_a_field_named_like_a_bcrypt_hash_is_not_named_in_a_rejection() -> None:
    problems = bounded_problems({"password": "is required", HASH: "unknown field"})
    assert not [name for name in problems if HASH[:20] in name], problems
