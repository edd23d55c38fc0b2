"""Phases: the operator's definition of each phase, saved by the admin API,
read by registration, activation and payments (``get_definition``)."""
from __future__ import annotations

from chalicelib.phases.models import PhaseModel
from chalicelib.phases.service import (
    get_definition,
    get_phase,
    list_definitions,
    mark_started,
    mark_stopped,
    save_phase,
)

__all__ = ["PhaseModel", "get_definition", "get_phase", "list_definitions", "mark_started",
           "mark_stopped", "save_phase"]
