"""A package whose code must not run before one of its modules is used (tests/unit/test_lazy.py)."""
PARENT_RAN = True
