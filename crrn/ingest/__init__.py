"""Vendor SPI exports -> `spi.board_inspection.v1` boards (pure parsing; file IO lives in streams/ingest/)."""
