"""Phases: the operator's definition of each phase, saved by the admin API
(``service``), read by registration, activation and payments
(``service.get_definition``); the pure rules of a definition (``definition``)
and the phase's progress counters (``counters``).

Import the module you need: this file imports nothing, so that the pure
``definition`` module can be imported without the database layer.
"""
