"""Wave activation, tranche crediting, expiry sweep and phase progress.

- ``service.run_schedule()``: the scheduled planner (app.py schedule);
- ``service.handle_sqs_event(event)``: the activation queue's handler;
- ``service.activate(phase_id, wave)``: the operator's ``POST .../activate``;
- ``progress.with_progress(phase_id, definition)``: the phase GET body;
- ``plan``: the pure planner (what is due, which runs to send).

Import the module you need: this file imports nothing, so that the pure
planner can be imported without the database layer. The counters every
package moves are the phase's (``chalicelib.phases.counters``).
"""
