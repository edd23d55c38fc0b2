"""Merchants: registration, profile, reference data, review."""
