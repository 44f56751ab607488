"""docs/configuration.md is the settings' model, rendered: a field added, removed or
redocumented without regenerating it fails here."""

from __future__ import annotations

from streamapp.settings import KafkaSettings, Settings, variable, variable_names
from streamapp.settings_doc import DOCUMENT, main, render


def test_the_committed_reference_is_the_rendered_model() -> None:
    assert DOCUMENT.read_text() == render(), "run: python -m streamapp.settings_doc"
    assert main(["--check"]) == 0


def test_every_variable_has_a_row_with_its_meaning() -> None:
    rows = [line for line in DOCUMENT.read_text().splitlines() if line.startswith("| `")]
    named = {row.split("`")[1] for row in rows}
    assert named == variable_names()
    assert all(row.split(" | ")[2].strip() for row in rows)


def test_a_field_added_to_the_model_makes_the_committed_file_stale() -> None:
    class MoreKafka(KafkaSettings):
        extra: int = variable("KAFKA_EXTRA_KNOB", 7, "a knob added without regenerating")

    class MoreSettings(Settings):
        kafka: MoreKafka = MoreKafka()

    rendered = render(MoreSettings)
    assert "| `KAFKA_EXTRA_KNOB` | `7` | a knob added without regenerating |" in rendered
    assert DOCUMENT.read_text() != rendered


def test_every_secret_is_marked_as_one() -> None:
    text = DOCUMENT.read_text()
    for name in ("AUTH_JWT_SECRET", "KAFKA_SASL_PASSWORD", "DATABASE_URL"):
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{name}` |")]
        assert "*secret*" in row
