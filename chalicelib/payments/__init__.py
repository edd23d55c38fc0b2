"""Payments: spending rules (pure) and the payment use cases."""
