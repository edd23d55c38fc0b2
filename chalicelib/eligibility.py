"""Who may register for a phase, and where an accepted citizen lands.

Pure functions of data: the phase's rules, the citizen's claims, the exclusion
lists the citizen was found on and any benefit already held. No I/O, so that
every rule of the program is testable without DynamoDB, moto or Chalice.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.clock import parse_iso

__all__ = [
    "PhaseRules",
    "Citizen",
    "Decision",
    "ACCEPTED",
    "REJECTED",
    "REASON_NOT_THAI",
    "REASON_OUTSIDE_COHORT",
    "REASON_ALREADY_BENEFITED",
    "EXCLUDED_PREFIX",
    "THAI_NATIONALITY",
    "decide",
    "registration_open",
    "assign_wave",
    "assign_bucket",
    "wallet_id_for",
    "registration_id_for",
]

ACCEPTED = "accepted"
REJECTED = "rejected"
REASON_NOT_THAI = "not_thai"
REASON_OUTSIDE_COHORT = "outside_cohort"
REASON_ALREADY_BENEFITED = "already_benefited"
EXCLUDED_PREFIX = "excluded:"
THAI_NATIONALITY = "TH"
WALLET_KIND = "wallet"

# Hex characters of the digest kept in opaque ids: 96 bits, far beyond any
# collision among tens of millions of citizens.
OPAQUE_ID_HEX_CHARS = 24


@dataclass(frozen=True)
class PhaseRules:
    """The parts of a phase definition that registration needs."""

    phase_id: str
    kind: str
    birth_date_from: date
    birth_date_to: date
    exclusion_lists: tuple[str, ...]
    opens_at: datetime
    closes_at: datetime
    wave_activations: tuple[str, ...]  # activate_at of wave 1, 2, ... (RFC 3339)
    tranche_days: tuple[int, ...] = (0,)  # after_days of tranche 1, 2, ...

    @property
    def is_wallet(self) -> bool:
        return self.kind == WALLET_KIND

    @property
    def wave_count(self) -> int:
        # A phase without waves activates everyone at once: one wave.
        return max(1, len(self.wave_activations))

    def due_times(self, wave: int) -> list[datetime]:
        """When each tranche of a citizen of ``wave`` is due (none: no wave time)."""
        start = self.activates_at(wave)
        if start is None:
            return []
        return [parse_iso(start) + timedelta(days=days) for days in self.tranche_days]

    def activates_at(self, wave: int) -> str | None:
        if 1 <= wave <= len(self.wave_activations):
            return self.wave_activations[wave - 1]
        return None

    @classmethod
    def from_definition(cls, phase_id: str, definition: Mapping[str, Any]) -> PhaseRules:
        """From a phase definition with API.md's field names (as saved by
        ``PUT /v1/admin/phases/{phase_id}``, already validated there)."""
        waves = definition.get("waves") or []
        return cls(
            phase_id=phase_id,
            kind=str(definition.get("kind", WALLET_KIND)),
            birth_date_from=_as_date(definition["birth_date_from"]),
            birth_date_to=_as_date(definition["birth_date_to"]),
            exclusion_lists=tuple(definition.get("exclusion_lists") or ()),
            opens_at=_as_time(definition["registration_opens_at"]),
            closes_at=_as_time(definition["registration_closes_at"]),
            wave_activations=tuple(_wave_time(w) for w in waves),
            tranche_days=tuple(int(t.get("after_days", 0)) for t in definition.get("tranches") or ()) or (0,),
        )


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value))


def _as_time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else parse_iso(str(value))


def _wave_time(wave: Any) -> str:
    return str(wave["activate_at"] if isinstance(wave, Mapping) else wave.activate_at)


@dataclass(frozen=True)
class Citizen:
    """What the identity provider proved (token claims) or the registrar read
    off the ID card; the national ID itself only as its keyed hash."""

    citizen_hash: str
    birth_date: date
    nationality: str
    district: str


@dataclass(frozen=True)
class Decision:
    status: str  # accepted | rejected
    reason: str | None = None
    matched_lists: tuple[str, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED


def registration_open(phase: PhaseRules, now: datetime) -> bool:
    """The window is ``opens_at`` inclusive to ``closes_at`` exclusive: a
    close time names the first instant at which registration is shut."""
    return phase.opens_at <= now < phase.closes_at


def decide(
    phase: PhaseRules,
    citizen: Citizen,
    excluded_on: Iterable[str] = (),
    benefit_phase_id: str | None = None,
) -> Decision:
    """Accept or reject, with the first reason that applies.

    Order: nationality, cohort, exclusion lists (in the phase's order), then
    an earlier benefit. A benefit already held in *this* phase is not a
    reason to reject: it is this registration's own (a lost response retried).
    """
    if citizen.nationality != THAI_NATIONALITY:
        return Decision(REJECTED, REASON_NOT_THAI)
    if not phase.birth_date_from <= citizen.birth_date <= phase.birth_date_to:
        return Decision(REJECTED, REASON_OUTSIDE_COHORT)
    found = set(excluded_on)
    matched = tuple(name for name in phase.exclusion_lists if name in found)
    if matched:
        return Decision(REJECTED, EXCLUDED_PREFIX + matched[0], matched)
    if benefit_phase_id is not None and benefit_phase_id != phase.phase_id:
        return Decision(REJECTED, REASON_ALREADY_BENEFITED)
    return Decision(ACCEPTED)


def _stable_int(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("#".join(parts).encode()).digest(), "big")


def assign_wave(phase_id: str, citizen_hash: str, wave_count: int) -> int:
    """1-based wave of a citizen: stable across retries and deployments, and
    spread evenly because ``citizen_hash`` is already a keyed hash."""
    if wave_count < 1:
        raise ValueError("a phase has at least one wave")
    return 1 + _stable_int("wave", phase_id, citizen_hash) % wave_count


def assign_bucket(phase_id: str, citizen_hash: str, buckets: int) -> int:
    """Bucket of the by-wave index key, independent of the wave itself."""
    if buckets < 1:
        raise ValueError("buckets must be >= 1")
    return _stable_int("bucket", phase_id, citizen_hash) % buckets


def _opaque(prefix: str, purpose: str, phase_id: str, citizen_hash: str) -> str:
    # citizen_hash is an HMAC under the secret pepper, so a digest of it can
    # be shown to clients without letting anyone get back to the national ID.
    digest = hmac.new(purpose.encode(), f"{phase_id}#{citizen_hash}".encode(), hashlib.sha256).hexdigest()
    return prefix + digest[:OPAQUE_ID_HEX_CHARS]


def wallet_id_for(phase_id: str, citizen_hash: str) -> str:
    """Deterministic, so that racing or retried registrations name one wallet."""
    return _opaque("w_", "wallet", phase_id, citizen_hash)


def registration_id_for(phase_id: str, citizen_hash: str) -> str:
    return _opaque("r_", "registration", phase_id, citizen_hash)

