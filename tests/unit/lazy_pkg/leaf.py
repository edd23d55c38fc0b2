"""tests/unit/test_lazy.py: a lazily loaded submodule."""
LEAF = "leaf"
