"""Wave activation, tranche crediting, expiry sweep and phase progress.

- ``service.run_schedule()``: the scheduled planner (app.py schedule);
- ``service.handle_sqs_event(event)``: the activation queue's handler;
- ``service.activate(phase_id, wave)``: the operator's ``POST .../activate``;
- ``progress.count(phase_id, **increments)``: the counters every package moves;
- ``progress.with_progress(phase_id, definition)``: the phase GET body.

Only the light progress functions are imported here, so that any package
can count without importing the ledger or the registration package.
"""
from chalicelib.activation import progress
from chalicelib.activation.progress import count, totals, wave_counter

# ``progress`` is the module (``progress.progress(...)`` the function): a
# package attribute of that name must stay the module others import.
__all__ = ["count", "progress", "totals", "wave_counter"]
