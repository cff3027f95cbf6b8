"""Observability adapters of the worker: Prometheus metrics, health endpoints, log formatting."""
