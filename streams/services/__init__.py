"""Local Kafka (Maven jars, KRaft) and PostgreSQL (Debian server binaries) for development, CI and demos.

`up()` starts what the environment does not already provide, creates the topics and writes
`.spi-crrn/services.env`; `down()` stops what `up()` started; `status()` reports both.
"""

from streams.services.manager import ServiceEndpoints, ServiceStatus, down, status, up
from streams.services.paths import StatePaths

__all__ = ["ServiceEndpoints", "ServiceStatus", "StatePaths", "down", "status", "up"]
