"""What an erasure test looks for: a person's name or email anywhere in the database."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from users_service.adapters.storage.migrations import sync_url


def person(tag: str, password: str = "pw-erase-1234") -> dict[str, str]:
    """A name and an email found nowhere else in the database."""
    marker = uuid.uuid4().hex[:8]
    return {
        "nombre": f"Zoraida {tag} Olvidable{marker}",
        "email": f"zoraida.{tag}.{marker}@example.com",
        "password": password,
    }


def every_value(database_url: str) -> list[tuple[str, str, str]]:
    """(table, column, value as text) for every non-null value of every column of every
    table in the database, reflected from the database itself (not the service's schema)."""
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    try:
        reflected = sa.MetaData()
        reflected.reflect(engine)
        found = []
        with engine.connect() as connection:
            for table in reflected.sorted_tables:
                for row in connection.execute(sa.select(table)).mappings():
                    for column, value in row.items():
                        if value is not None:
                            found.append((table.name, column, str(value)))
        return found
    finally:
        engine.dispose()


def traces_of(database_url: str, *people: dict[str, str]) -> list[tuple[str, str]]:
    """Where any of these people's names or emails (in any case) is stored."""
    needles = [p[k].lower() for p in people for k in ("nombre", "email")]
    return [
        (table, column)
        for table, column, value in every_value(database_url)
        if any(n in value.lower() for n in needles)
    ]
