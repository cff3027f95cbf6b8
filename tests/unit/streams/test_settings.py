"""Settings: parsing from the environment, precedence, secrets kept out of repr, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import STATE_DIR_ENV, Settings, read_env_file


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.topic_inspections == "spi.inspections"


def test_env_values_are_parsed_by_field_type() -> None:
    settings = Settings.from_env({"TOPIC_PARTITIONS": "8", "DEVICE": "cpu", "KAFKA_BOOTSTRAP_SERVERS": "k:1"})
    assert settings.topic_partitions == 8
    assert settings.device == "cpu"
    assert settings.kafka_bootstrap_servers == "k:1"


def test_empty_variable_means_default() -> None:
    assert Settings.from_env({"TOPIC_PARTITIONS": ""}).topic_partitions == Settings().topic_partitions


def test_precedence_flag_over_env_over_services_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "services.env").write_text(
        "# comment\nKAFKA_BOOTSTRAP_SERVERS=file:1\nDATABASE_URL='postgresql://file/db'\nTOPIC_PARTITIONS=2\n"
    )
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "env:2")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("TOPIC_PARTITIONS", raising=False)

    settings = Settings.from_env(topic_partitions=6)

    assert settings.kafka_bootstrap_servers == "env:2"  # environment beats the file
    assert settings.database_url == "postgresql://file/db"  # file beats the default
    assert settings.topic_partitions == 6  # explicit override beats both


def test_read_env_file_missing_is_empty(tmp_path: Path) -> None:
    assert read_env_file(tmp_path / "absent.env") == {}


def test_secrets_not_in_repr() -> None:
    settings = Settings.from_env(
        {"KAFKA_SASL_PASSWORD": "hunter2-sasl", "DATABASE_URL": "postgresql+psycopg://w:hunter2-db@h:5432/d"}
    )
    shown = repr(settings)
    assert "hunter2" not in shown
    assert "postgresql+psycopg://w:***@h:5432/d" in shown
    assert settings.kafka_sasl_password.get_secret_value() == "hunter2-sasl"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TOPIC_PARTITIONS": "four"}, "TOPIC_PARTITIONS"),
        ({"TOPIC_PARTITIONS": "0"}, "TOPIC_PARTITIONS"),
        ({"WINDOW_LENGTH": "-3"}, "WINDOW_LENGTH"),
        ({"DEVICE": "tpu"}, "DEVICE"),
        ({"WINDOW_LENGTH": "5", "WINDOW_HOP": "6"}, "WINDOW_HOP"),
        ({"RETENTION_DAYS": "0"}, "RETENTION_DAYS"),
        ({"RETENTION_BATCH": "-1"}, "RETENTION_BATCH"),
    ],
)
def test_bad_values_rejected_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Settings.from_env(env)


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    missing = [f.upper() for f in Settings.model_fields if f"`{f.upper()}`" not in readme]
    assert missing == [], f"README configuration table lacks {missing}"


def test_sasl_password_is_a_secret_in_str_and_repr() -> None:
    settings = Settings(kafka_sasl_password="hunter2", database_admin_url="postgresql://a:s3cret@h/d")
    assert "hunter" not in str(settings)
    assert "hunter" not in repr(settings)
    assert "s3cret" not in str(settings)
    assert "postgresql://a:***@h/d" in str(settings)


def test_settings_constructor_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPIC_PARTITIONS", "9")
    assert Settings().topic_partitions == 4
    assert Settings.from_env().topic_partitions == 9


def test_with_validates_and_keeps_the_rest() -> None:
    base = Settings.from_env({"KAFKA_SASL_PASSWORD": "s3"})
    changed = base.with_(topic_partitions=2)
    assert changed.topic_partitions == 2
    assert changed.kafka_sasl_password.get_secret_value() == "s3"
    with pytest.raises(ValueError, match="WINDOW_HOP"):
        base.with_(window_hop=11)


def test_settings_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        Settings().topic_partitions = 3  # type: ignore[misc]


def test_unknown_override_is_named() -> None:
    with pytest.raises(ValueError, match="topic_partitons: no such setting"):
        Settings.from_env({}, topic_partitons=3)


@pytest.mark.parametrize(("raw", "expected"), [("json", "json"), ("JSON", None), ("text", "text")])
def test_log_format_choices(raw: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="LOG_FORMAT='JSON': use one of text, json"):
            Settings.from_env({"LOG_FORMAT": raw})
    else:
        assert Settings.from_env({"LOG_FORMAT": raw}).log_format == expected


def test_kafka_max_message_bytes_may_only_raise_the_16_mib_default() -> None:
    assert Settings().kafka_max_message_bytes == 16 * 2**20
    assert Settings.from_env({"KAFKA_MAX_MESSAGE_BYTES": "33554432"}).kafka_max_message_bytes == 32 * 2**20
    with pytest.raises(ValueError, match=r"KAFKA_MAX_MESSAGE_BYTES=1048576: use 16777216"):
        Settings.from_env({"KAFKA_MAX_MESSAGE_BYTES": "1048576"})
