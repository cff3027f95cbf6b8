"""Faust agents of the worker: ingest (decode, validate, dead-letter) and per-printer windowing."""
