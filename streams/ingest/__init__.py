"""Ingest from where the inspectors are: watched CSV export folders (`csv_folder`), IPC-CFX over AMQP."""
