"""Imported by tests/unit/test_lazy.py through lazy_module: slow to run, its
last name defined last, so a thread that saw it half-run would miss it."""
import time

RUNS = 1
time.sleep(0.2)
LAST = "defined at the end"
