"""Where activation reads phase definitions and writes back to a phase.

The phases package owns the phase item; activation needs four things from
it, behind this small interface so that the planner is testable with an
in-memory fake.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

__all__ = ["PhaseSource", "MemoryPhaseSource"]


class PhaseSource(Protocol):
    def definitions(self) -> Iterable[tuple[str, Mapping[str, Any]]]:
        """Every phase as (phase_id, saved definition)."""

    def definition(self, phase_id: str) -> Mapping[str, Any] | None:
        """One phase's saved definition (consistent), or None."""

    def mark_started(self, phase_id: str, at: datetime) -> None:
        """A wave began: from now on the fields that shape money are frozen."""

    def mark_stopped(self, phase_id: str, reason: str, at: datetime) -> None:
        """Record on the phase why a wave stopped (e.g. budget_exhausted)."""


class MemoryPhaseSource:
    """A fake for tests of the planner without the phases table."""

    def __init__(self, phases: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.phases: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (phases or {}).items()}
        self.started: dict[str, datetime] = {}
        self.stopped: dict[str, str] = {}

    def definitions(self) -> Iterable[tuple[str, Mapping[str, Any]]]:
        return list(self.phases.items())

    def definition(self, phase_id: str) -> Mapping[str, Any] | None:
        return self.phases.get(phase_id)

    def mark_started(self, phase_id: str, at: datetime) -> None:
        self.started.setdefault(phase_id, at)

    def mark_stopped(self, phase_id: str, reason: str, at: datetime) -> None:
        self.stopped[phase_id] = reason

