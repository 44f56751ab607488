"""The settings reference, `docs/configuration.md`, generated from the settings' model.

`python -m streamapp.settings_doc` writes it; `--check` exits 1 when the committed file
differs from what the model gives (a test runs the same comparison).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from streamapp.settings import Settings, groups, is_secret
from users_service.service_layer.retry import Backoff

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

_HEADER = """\
# Configuration

<!-- Generated from streamapp/settings.py by `python -m streamapp.settings_doc`: do not edit
by hand; a test fails when this file and the settings differ. -->

Every setting is an environment variable. `.env` gives the local defaults `make run` uses;
the real environment overrides it, variable by variable, and an empty value means the
default. Every value is checked at start-up: a bad one stops the worker (and every
`users-service` command) with one line that names the variable, never showing a secret's
value. Secrets (marked *secret*) never appear in a log line or a settings `repr`.

In code, each group is an attribute of `Settings` (`settings.kafka.brokers`).
"""


def _default(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, float):
        value = f"{value:g}"
    elif isinstance(value, tuple):
        value = ",".join(value)
    elif isinstance(value, Backoff):
        value = f"{value.first:g},{value.most:g}"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(settings_cls: type[Settings] = Settings) -> str:
    """The reference for `settings_cls`, one table per group, in declared order."""
    parts = [_HEADER]
    for group, model in groups(settings_cls):
        title = "HTTP" if group == "http" else group.capitalize()
        parts.append(f"\n## {title} (`settings.{group}`)\n\n")
        parts.append(f"{inspect.cleandoc(model.__doc__ or '')}\n\n")
        parts.append("| Variable | Default | Meaning | Attribute |\n|---|---|---|---|\n")
        for name, info in model.model_fields.items():
            meaning = info.description or ""
            if is_secret(info):
                meaning = f"*secret*: {meaning}"
            parts.append(
                f"| `{info.alias}` | {_cell(_default(info.default))} | {_cell(meaning)} "
                f"| `{group}.{name}` |\n"
            )
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Write docs/configuration.md, or with --check say whether it is up to date."""
    parser = argparse.ArgumentParser(prog="python -m streamapp.settings_doc")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not DOCUMENT.is_file() or DOCUMENT.read_text() != text:
            print(f"{DOCUMENT} is stale: run python -m streamapp.settings_doc", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.parent.mkdir(exist_ok=True)
    DOCUMENT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
