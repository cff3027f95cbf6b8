"""Secrets set in the environment never reach a command's output (#12): `spi-crrn -v services status`
(prints every endpoint, connects with the SASL settings) and `spi-crrn -v db current` (connects with
DATABASE_URL, fails, prints the traceback), both at debug level, against closed ports so no service is
needed. The SASL settings themselves are passed through to the Kafka clients unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from streams.kafka.connection import client_options
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[4]


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from streams.cli.main import main; main()", "-v", *args]
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [["services", "status"], ["db", "current"]])
def test_passwords_never_appear_in_output(tmp_path: Path, args: list[str]) -> None:
    db_secret, sasl_secret = f"db{uuid.uuid4().hex}", f"sasl{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SPI_CRRN_STATE_DIR": str(tmp_path),  # no services.env of a real installation
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",  # closed ports: every connection fails fast
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_SASL_USERNAME": "spi",
        "KAFKA_SASL_PASSWORD": sasl_secret,
        "DATABASE_URL": f"postgresql+psycopg://spi_writer:{db_secret}@127.0.0.1:9/spi_crrn",
    }
    result = run_cli(args, env)
    output = result.stdout + result.stderr
    assert "127.0.0.1" in output  # the command did report where it tried to connect
    assert db_secret not in output
    assert sasl_secret not in output
    if args == ["services", "status"]:
        assert "spi_writer:***@127.0.0.1:9" in output


def test_sasl_settings_pass_through_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "spi",
            "KAFKA_SASL_PASSWORD": "pw-from-env",
        }
    )
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert (options["sasl_mechanism"], options["sasl_plain_username"]) == ("SCRAM-SHA-512", "spi")
    assert options["sasl_plain_password"] == "pw-from-env"
    assert "pw-from-env" not in repr(settings)
    with pytest.raises(ValueError, match="KAFKA_SASL_MECHANISM"):
        client_options(settings.with_(kafka_sasl_mechanism=""))
