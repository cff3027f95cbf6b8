"""aiokafka client keyword arguments (bootstrap servers, TLS, SASL) derived from Settings."""

from __future__ import annotations

from typing import Any

from streams.settings import DEFAULT_MAX_MESSAGE_BYTES, Settings

# The default of Settings.kafka_max_message_bytes (KAFKA_MAX_MESSAGE_BYTES): producers must allow large
# boards (a 50,000-pad board is ~4.5 MB of JSON); the local broker accepts messages of this size.
MAX_MESSAGE_BYTES = DEFAULT_MAX_MESSAGE_BYTES


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile or None)
    if settings.kafka_security_protocol.startswith("SASL"):
        if not settings.kafka_sasl_mechanism:
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs KAFKA_SASL_MECHANISM "
                "(PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
            )
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options
