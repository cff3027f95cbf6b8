"""Install missing system programs (Java, Maven, PostgreSQL server) with apt-get, only as root."""

from __future__ import annotations

import os
import shutil
import subprocess


class MissingProgramError(RuntimeError):
    """A program the local services need is not installed and cannot be installed automatically."""


_apt_updated = False


def ensure_program(program: str, apt_packages: list[str], why: str) -> str:
    """Path of `program` on PATH, installing `apt_packages` first when missing and running as root."""
    found = shutil.which(program)
    if found:
        return found
    apt_install(apt_packages, why)
    found = shutil.which(program)
    if not found:
        raise MissingProgramError(f"`{program}` still not on PATH after installing {' '.join(apt_packages)}")
    return found


def apt_install(packages: list[str], why: str) -> None:
    """`apt-get install -y PACKAGES` as root; otherwise a clear error saying what to install."""
    global _apt_updated
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise MissingProgramError(
            f"{why}: install {' '.join(packages)} (e.g. `sudo apt-get install -y {' '.join(packages)}`), "
            "or point the environment at existing services (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        _apt_updated = True
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], check=True, env=env
    )
