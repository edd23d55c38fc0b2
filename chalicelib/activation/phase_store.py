"""The phases package (chalicelib.phases) as activation's PhaseSource.

Activation reads every definition, one definition, and writes back the
started mark (which the PUT's freeze condition reads) and ``stopped_reason``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from chalicelib.phases import service as phases

__all__ = ["StorePhaseSource", "default_source"]



class StorePhaseSource:
    def definitions(self) -> Iterable[tuple[str, Mapping[str, Any]]]:
        return phases.list_definitions()

    def definition(self, phase_id: str) -> Mapping[str, Any] | None:
        return phases.get_definition(phase_id)

    def mark_started(self, phase_id: str, at: datetime) -> None:
        phases.mark_started(phase_id, at)

    def mark_stopped(self, phase_id: str, reason: str, at: datetime) -> None:
        phases.mark_stopped(phase_id, reason, at)


def default_source() -> StorePhaseSource:
    """The phases table: what activation reads outside the planner's tests."""
    return StorePhaseSource()
