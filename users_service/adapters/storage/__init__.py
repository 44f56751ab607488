"""Persistence through `databases` and SQLAlchemy Core: the only code that knows SQL."""
