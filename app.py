"""The API and its background handlers (Chalice).

Routes live in blueprints (chalicelib/api/*.py); each module gives ``bp`` and
``OPENAPI_PATHS``. To add one: import it and list it in BLUEPRINT_MODULES.
SQS handlers and schedules go in the marked section below.
"""
from __future__ import annotations

from chalice import Chalice, Rate

from chalicelib import openapi, queues
from chalicelib.activation import service as activation_jobs
from chalicelib.api import activation, admin, citizen, merchant, payments, payouts, public, registrar
from chalicelib.api.common import contract_errors, map_errors

app = Chalice(app_name="wallet")
# Every answer, the framework's own included (405, 415), in the contract's error shape.
app.register_middleware(contract_errors, "http")

BLUEPRINT_MODULES = (public, admin, citizen, registrar, merchant, payments, activation, payouts)

for _module in BLUEPRINT_MODULES:
    app.register_blueprint(_module.bp)
    openapi.add_paths(_module.OPENAPI_PATHS)


# -- SQS handlers and schedules ------------------------------------------------------
# (@app.on_sqs_message(queue=...) / @app.schedule(...); keep each a one-line
#  call into its package.)

@app.on_sqs_message(queue=queues.queue_name(activation_jobs.ACTIVATION_QUEUE), batch_size=10)
def activation_worker(event):  # type: ignore[no-untyped-def]
    return activation_jobs.handle_sqs_event(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES))  # locally: every settings.schedule_rate_s (the pump)
def activation_schedule(event):  # type: ignore[no-untyped-def]
    activation_jobs.run_schedule()



# Last: every route answers errors as the contract's body (also those above).
map_errors(app)
