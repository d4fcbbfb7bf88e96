"""Spiders of newswatch (one: `news`)."""
