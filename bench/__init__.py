"""Benchmarks on the real broker and PostgreSQL: `make bench` (python -m bench)."""
