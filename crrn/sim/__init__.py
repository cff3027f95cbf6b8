"""Seeded SPI simulator: recipes, the normal printing process, printer defects, injections, fleets."""
