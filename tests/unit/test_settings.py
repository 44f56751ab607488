"""Settings from the environment and `.env`; bad values name their variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamapp.settings import Settings, SettingsError, load_settings, parse_brokers


def test_defaults_match_the_documented_ones() -> None:
    s = load_settings({}, dotenv=None)
    assert s == Settings()
    assert s.kafka.brokers == ("kafka:9092",)
    assert (s.kafka.client_id, s.kafka.group_id) == ("users-service", "users-group")
    assert s.kafka.user_created_topic == "user.created"
    assert (s.http.port, s.auth.bcrypt_rounds) == (6066, 12)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("kafka:9092", ("kafka:9092",)),
        ("a:1,b:2", ("a:1", "b:2")),
        (" a:1 , b:2 ", ("a:1", "b:2")),
        ("kafka://a:1;kafka://b:2", ("a:1", "b:2")),
        ("kafka://broker", ("broker:9092",)),
    ],
)
def test_broker_forms(raw: str, expected: tuple[str, ...]) -> None:
    assert parse_brokers(raw) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KAFKA_BROKER", "http://x:1"),
        ("KAFKA_BROKER", "host:99999"),
        ("WEB_PORT", "abc"),
        ("WEB_PORT", "0"),
        ("BCRYPT_ROUNDS", "3"),
        ("DATABASE_URL", "mysql://x"),
        ("KAFKA_USER_CREATED_TOPIC", "bad topic"),
        ("KAFKA_REQUEST_TIMEOUT", "-1"),
        ("KAFKA_COMPRESSION", "brotli"),
        ("KAFKA_MAX_BATCH_BYTES", "2000000"),
        ("KAFKA_LINGER_MS", "-5"),
        ("WEB_REUSE_PORT", "sometimes"),
    ],
)
def test_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value}, dotenv=None)


def test_environment_overrides_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("KAFKA_BROKER=127.0.0.1:9092\nWEB_PORT=7000\n# comment\n")
    s = load_settings({"WEB_PORT": "7100"}, dotenv=dotenv)
    assert s.kafka.brokers == ("127.0.0.1:9092",)
    assert s.http.port == 7100


def test_faust_broker_url_lists_every_broker() -> None:
    s = load_settings({"KAFKA_BROKER": "a:1,b:2"}, dotenv=None)
    assert s.kafka.faust_broker_url == "kafka://a:1;kafka://b:2"


def test_relay_lease_must_outlast_a_kafka_request() -> None:
    with pytest.raises(SettingsError, match="OUTBOX_LEASE_TTL"):
        load_settings({"OUTBOX_LEASE_TTL": "5", "KAFKA_REQUEST_TIMEOUT": "10"}, dotenv=None)


def test_the_shutdown_grace_must_exceed_each_step_of_the_shutdown() -> None:
    with pytest.raises(SettingsError, match="SHUTDOWN_GRACE"):
        load_settings({"SHUTDOWN_GRACE": "5", "SHUTDOWN_FLUSH_TIMEOUT": "5"}, dotenv=None)
    settings = load_settings({"SHUTDOWN_GRACE": "20"}, dotenv=None)
    assert (settings.operations.shutdown_grace, settings.operations.shutdown_flush_timeout) == (
        20.0,
        5.0,
    )


def test_a_bad_secret_or_url_is_named_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"DATABASE_URL": "mysql://admin:s3cret-pw@db/users"}, dotenv=None)
    assert "DATABASE_URL" in str(caught.value) and "s3cret-pw" not in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        load_settings({"AUTH_JWT_SECRET": "short-secret"}, dotenv=None)
    assert "AUTH_JWT_SECRET" in str(caught.value) and "short-secret" not in str(caught.value)


def test_secrets_stay_out_of_the_settings_repr() -> None:
    settings = load_settings(
        {
            "AUTH_JWT_SECRET": "x" * 40,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_USERNAME": "svc",
            "KAFKA_SASL_PASSWORD": "kafka-pw-123",
        },
        dotenv=None,
    )
    assert "x" * 40 not in repr(settings) and "kafka-pw-123" not in repr(settings)


def test_least_exposure_and_client_security_defaults() -> None:
    settings = load_settings({}, dotenv=None)
    assert settings.http.bind == "127.0.0.1"
    assert settings.kafka.security_protocol == "PLAINTEXT"
    assert settings.auth.jwt_secret is None and settings.auth.jwks_url is None
    with pytest.raises(SettingsError, match="KAFKA_SASL_USERNAME"):
        load_settings({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, dotenv=None)
    with pytest.raises(SettingsError, match="not both"):
        load_settings(
            {"AUTH_JWT_SECRET": "y" * 40, "AUTH_JWKS_URL": "http://idp/jwks"}, dotenv=None
        )


def test_operations_settings() -> None:
    s = load_settings(
        {
            "LOG_FORMAT": "JSON",
            "LOG_LEVEL": "warning",
            "METRICS_PORT": "9102",
            "MIGRATE_ON_START": "false",
            "KAFKA_GROUP_INSTANCE_ID": "users-0",
        },
        dotenv=None,
    )
    assert (s.operations.log_format, s.operations.log_level, s.operations.metrics_port) == (
        "json",
        "WARNING",
        9102,
    )
    assert s.database.migrate_on_start is False and s.kafka.group_instance_id == "users-0"
    defaults = load_settings({}, dotenv=None)
    assert (
        defaults.operations.log_format,
        defaults.operations.metrics_port,
        defaults.database.migrate_on_start,
    ) == (
        "text",
        0,
        True,
    )
    for bad in ({"LOG_FORMAT": "xml"}, {"METRICS_PORT": "6066", "WEB_PORT": "6066"}):
        with pytest.raises(SettingsError):
            load_settings(bad, dotenv=None)


def test_a_copy_is_checked_as_the_environment_is() -> None:
    with pytest.raises(SettingsError, match="WEB_PORT"):
        Settings().replaced(http={"port": 0})
    with pytest.raises(SettingsError, match="SHUTDOWN_GRACE"):
        Settings().replaced(operations={"shutdown_grace": 1})
    copy = Settings().replaced(http={"port": 7000}, auth={"jwt_secret": "z" * 32})
    assert (copy.http.port, copy.auth.jwt_secret and copy.auth.jwt_secret.get_secret_value()) == (
        7000,
        "z" * 32,
    )


def test_the_database_password_stays_out_of_the_repr_and_the_error() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://u:pw-1234@db/users"}, dotenv=None)
    assert "pw-1234" not in repr(settings)
    assert settings.database.url.get_secret_value() == "postgresql://u:pw-1234@db/users"
    with pytest.raises(SettingsError) as caught:
        load_settings({"DATABASE_MIGRATION_URL": "postgresql//u:pw-1234@db/users"}, dotenv=None)
    assert "DATABASE_MIGRATION_URL" in str(caught.value) and "pw-1234" not in str(caught.value)
