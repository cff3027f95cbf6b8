"""The board-map dashboard: read-only pages over the reporting views (queries, rendering, app)."""
