"""Every pattern the service applies to input runs on RE2, which cannot backtrack: the
work of a match is linear in the input, whatever a client sends (issue 26, case 1: one
8 KB request path ending in `pass` held the loop for half a second under `re`)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest
import re2

from users_service.adapters import log_redaction
from users_service.domain.patterns import LinearPattern

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("users_service", "streamapp", "web", "agents", "models")


def _service_modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _service_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_of_the_service_uses_python_s_backtracking_re(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = {
        alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names
    }
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "re" not in imported, f"{path.name} imports re: use re2 (linear time)"


def test_every_pattern_object_of_the_service_is_an_re2_pattern() -> None:
    found: dict[str, object] = {}
    for package in ("users_service", "web", "agents", "models", "streamapp"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if ".alembic" in info.name:
                continue  # migration scripts run under Alembic's own environment
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if isinstance(value, re.Pattern | re2._Regexp | LinearPattern):
                    found[f"{info.name}.{name}"] = value
    python_re = sorted(name for name, value in found.items() if isinstance(value, re.Pattern))
    assert python_re == []
    # The redaction module's own patterns are among those checked.
    assert {"_BCRYPT", "_FIELD", "_URL_PASSWORD"} <= {
        name.rsplit(".", 1)[1] for name in found if name.startswith(log_redaction.__name__)
    }


@pytest.mark.parametrize("size", [8 * 1024, 64 * 1024])
def test_an_adversarial_path_is_redacted_exactly(size: int) -> None:
    """The shape of case 1 (a long run of letters, then a marker), at 8 and 64 KB: the
    answer is right (the path holds no secret, so it is kept whole) and, the patterns
    being RE2's (above), its cost is linear."""
    path = "/" + "a" * (size - 5) + "pass"
    line = f"GET {path} 404 0.1ms"
    assert log_redaction.redact(line) == line
    secret = f"GET /x{'a' * size}postgresql://u:s3cret@db/x 404"
    assert "s3cret" not in log_redaction.redact(secret)


def _module_patterns() -> dict[str, object]:
    found: dict[str, object] = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if ".alembic" in info.name:
                continue
            for name, value in vars(importlib.import_module(info.name)).items():
                if isinstance(value, re2._Regexp | LinearPattern):
                    found[f"{info.name}.{name}"] = value
    return found


@pytest.mark.parametrize("text", ["\ud800", "a\udcff b", "\udc80" * 3 + "password=x"])
def test_every_pattern_of_the_service_takes_text_holding_lone_surrogates(text: str) -> None:
    """RE2 reads UTF-8, which has no lone surrogates, and raises on a str holding one; yet
    Python strings from clients hold them: JSON's `\\ud800` escape, and aiohttp's headers
    (decoded with surrogateescape). A raising pattern was a 500 on a request whose
    X-Request-ID held a C1 byte, found by the raw-socket property."""
    found = _module_patterns()
    assert found
    raw = sorted(name for name, value in found.items() if not isinstance(value, LinearPattern))
    assert raw == [], "wrap these in users_service.domain.patterns.linear()"
    for name, pattern in found.items():
        assert isinstance(pattern, LinearPattern)
        if pattern.takes_str:
            pattern.search(text), name
            assert isinstance(pattern.sub("", text), str), name
