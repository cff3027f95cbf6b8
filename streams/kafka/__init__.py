"""Kafka plumbing used outside the Faust worker: client options from Settings, topic admin."""
