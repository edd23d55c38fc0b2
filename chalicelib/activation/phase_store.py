"""The phases package (chalicelib.phases) as activation's PhaseSource.

Expected of chalicelib.phases (the edge's package):
- ``get_definition(phase_id) -> dict | None`` (registration reads it too);
- ``list_definitions() -> iterable of (phase_id, definition)``;
- optionally ``mark_started(phase_id, at)``: set the phase's started mark
  that the PUT's freeze condition reads, and ``mark_stopped(phase_id,
  reason, at)``: record ``stopped_reason`` on the phase.
Without the optional two, the runs table is the record:
``progress.started(phase_id)`` and ``progress(...)["stopped_reason"]``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from chalicelib import observability

__all__ = ["StorePhaseSource"]

logger = observability.component_logger()


class StorePhaseSource:
    def __init__(self) -> None:
        from chalicelib import phases  # noqa: PLC0415 - the edge's package, imported late

        self._phases = phases

    def definitions(self) -> Iterable[tuple[str, Mapping[str, Any]]]:
        return self._phases.list_definitions()  # type: ignore[no-any-return]

    def definition(self, phase_id: str) -> Mapping[str, Any] | None:
        return self._phases.get_definition(phase_id)  # type: ignore[no-any-return]

    def mark_started(self, phase_id: str, at: datetime) -> None:
        mark = getattr(self._phases, "mark_started", None)
        if mark is not None:
            mark(phase_id, at)

    def mark_stopped(self, phase_id: str, reason: str, at: datetime) -> None:
        mark = getattr(self._phases, "mark_stopped", None)
        if mark is not None:
            mark(phase_id, reason, at)
        else:
            logger.warning("wave stopped", extra={"phase_id": phase_id, "reason": reason})
