"""The phase definition of API.md: its validation and the pure rules of a
change (frozen fields once a wave started, budget not below issued)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from chalicelib import limits
from chalicelib.errors import ConflictError, InvalidRequestError
from chalicelib.validation import (
    BankCode,
    Category,
    Date,
    DateTime,
    Enum,
    Int,
    ListName,
    ListOf,
    Money,
    Nullable,
    Obj,
    Opt,
    Params,
    PhaseId,
    Str,
)

__all__ = ["PHASE_BODY", "PHASE_ID_PATH", "SHAPING_FIELDS", "READ_ONLY_FIELDS", "WAVE_READ_ONLY_FIELDS",
           "strip_read_only", "parse_definition", "check_change", "check_times", "started"]

# What GET /v1/admin/phases/{id} adds to the definition: a PUT of what a
# GET returned ignores them (they are progress, not definition).
READ_ONLY_FIELDS = ("phase_id", "registered", "accepted", "rejected", "credited_count", "credited_satang",
                    "spent_satang", "spent_as_of", "expired_satang",
                    "payouts_rejected_count", "payouts_returned_satang", "uncredited_count", "credits_per_tranche",
                    "stopped_reason", "exclusion_list_sizes", "warnings")
WAVE_READ_ONLY_FIELDS = ("wave", "status", "credited_count", "stopped_reason")


PHASE_BODY = Obj({
    "name": Str(1, limits.PHASE_NAME_CHARS_MAX),
    "kind": Enum("wallet", "cash_transfer"),
    "birth_date_from": Date(),
    "birth_date_to": Date(),
    # The names an import fills (ListName): a phase naming a list that
    # cannot be imported would exclude nobody from it.
    "exclusion_lists": Opt(ListOf(ListName(), 0, limits.PHASE_EXCLUSION_LISTS_MAX)),
    "registration_opens_at": DateTime(),
    "registration_closes_at": DateTime(),
    "amount_satang": Money(),
    "tranches": Opt(ListOf(Obj({"amount_satang": Money(),
                                "after_days": Int(0, limits.TRANCHE_AFTER_DAYS_MAX)}), 1, limits.PHASE_TRANCHES_MAX)),
    "waves": ListOf(Obj({"activate_at": DateTime()}, ignored=WAVE_READ_ONLY_FIELDS), 1, limits.PHASE_WAVES_MAX),
    "expires_after_days": Int(1, limits.PHASE_EXPIRES_AFTER_DAYS_MAX),
    "spending_scope": Enum(*limits.SPENDING_SCOPES),
    "allowed_size_classes": ListOf(Enum(*limits.SIZE_CLASSES), 1, len(limits.SIZE_CLASSES)),
    "restricted_categories": Opt(ListOf(Category(), 0, limits.PHASE_RESTRICTED_CATEGORIES_MAX)),
    "budget_satang": Money(0, limits.PHASE_BUDGET_SATANG_MAX),
    "payout_bank_code": Opt(Nullable(BankCode())),
}, ignored=READ_ONLY_FIELDS)
PHASE_ID_PATH = Params("path", {"phase_id": PhaseId()})

# Fields that shape money already issued: frozen once a wave has started.
SHAPING_FIELDS = ("kind", "birth_date_from", "birth_date_to", "amount_satang", "tranches", "waves",
                  "expires_after_days", "exclusion_lists", "payout_bank_code")


def strip_read_only(body: Any) -> Any:
    """The body without the read-only fields of a GET (anything else is
    left to the spec, which refuses unknown fields)."""
    if not isinstance(body, dict):
        return body
    out = {k: v for k, v in body.items() if k not in READ_ONLY_FIELDS}
    if isinstance(out.get("waves"), list):
        out["waves"] = [{k: v for k, v in w.items() if k not in WAVE_READ_ONLY_FIELDS} if isinstance(w, dict) else w
                        for w in out["waves"]]
    return out


def parse_definition(body: Any) -> dict[str, Any]:
    """The definition to save (the body as sent, defaults filled, GET's
    read-only fields left out), or 400."""
    body = strip_read_only(body)
    parsed = PHASE_BODY.parse(body, "")
    if parsed["birth_date_from"] > parsed["birth_date_to"]:
        raise InvalidRequestError("birth_date_to", "birth_date_to must not be before birth_date_from.")
    if parsed["registration_opens_at"] >= parsed["registration_closes_at"]:
        raise InvalidRequestError("registration_closes_at",
                                  "registration_closes_at must be after registration_opens_at.")
    for index, wave in enumerate(parsed["waves"]):
        if wave["activate_at"] < parsed["registration_opens_at"]:
            raise InvalidRequestError(f"waves[{index}].activate_at",
                                      f"waves[{index}].activate_at is before registration opens "
                                      "(registration_opens_at): nobody would be registered yet.")
    tranches = parsed.get("tranches")
    if tranches is not None and sum(t["amount_satang"] for t in tranches) != parsed["amount_satang"]:
        raise InvalidRequestError("tranches", "The tranches' amount_satang must add up to amount_satang.")
    if len(set(parsed["allowed_size_classes"])) != len(parsed["allowed_size_classes"]):
        raise InvalidRequestError("allowed_size_classes", "allowed_size_classes lists a size twice.")
    if parsed["kind"] == "cash_transfer" and not body.get("payout_bank_code"):
        raise InvalidRequestError("payout_bank_code", "payout_bank_code is required for a cash_transfer "
                                                      "phase: the bank the transfers go out through.")
    definition = dict(body)
    definition.setdefault("exclusion_lists", [])
    definition.setdefault("restricted_categories", [])
    definition.setdefault("payout_bank_code", None)
    definition.setdefault("tranches", [{"amount_satang": body["amount_satang"], "after_days": 0}])
    return definition


def _times(definition: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every time of a definition, named by its field."""
    found = [(name, definition[name]) for name in ("registration_opens_at", "registration_closes_at")
             if isinstance(definition.get(name), str)]
    for index, wave in enumerate(definition.get("waves") or []):
        if isinstance(wave, Mapping) and isinstance(wave.get("activate_at"), str):
            found.append((f"waves[{index}].activate_at", wave["activate_at"]))
    return found


def check_times(new: Mapping[str, Any], old: Mapping[str, Any] | None, now: datetime) -> None:
    """400 naming the field for a time of a new phase, or a time changed
    from ``old``, more than PHASE_TIME_PAST_DAYS_MAX days before ``now`` (the
    program's clock, chalicelib/clock.py: a local stack whose clock was moved
    judges by its own time)."""
    earliest = now - timedelta(days=limits.PHASE_TIME_PAST_DAYS_MAX)
    before = dict(_times(old)) if old is not None else {}
    for field, value in _times(new):
        if before.get(field) == value:
            continue  # as saved before: a phase's past stays as it was
        if DateTime().parse(value, field) < earliest:
            raise InvalidRequestError(field, f"{field} is more than {limits.PHASE_TIME_PAST_DAYS_MAX} days "
                                      "in the past; check the year (a new or moved time is at most that far "
                                      "back).")


def started(definition: Mapping[str, Any], started_at: str | None, now: datetime) -> bool:
    """A wave has started: marked by activation, or its activate_at has passed."""
    if started_at:
        return True
    return any(DateTime().parse(wave["activate_at"], "waves") <= now for wave in definition.get("waves", []))


def check_change(old: Mapping[str, Any], new: Mapping[str, Any], *, started_at: str | None,
                 issued_satang: int, now: datetime) -> None:
    """409 for a change the program cannot take any more."""
    if started(old, started_at, now):
        changed = [f for f in SHAPING_FIELDS if old.get(f) != new.get(f)]
        if changed:
            raise ConflictError("phase_frozen", f"A wave of this phase has started: {', '.join(changed)} "
                                "can no longer change.", {"fields": changed})
    old_waves, new_waves = len(old.get("waves", [])), len(new.get("waves", []))
    if old_waves != new_waves and DateTime().parse(old["registration_opens_at"], "registration_opens_at") <= now:
        # Each citizen's wave is drawn from the wave count at registration
        # and stored with the registration; another count would leave the
        # citizens of a removed wave never credited.
        raise ConflictError("phase_frozen", f"Registration has opened and citizens hold one of {old_waves} "
                            "waves: the number of waves can no longer change (their times can, until the "
                            "first starts).", {"fields": ["waves"]})
    if new["budget_satang"] < issued_satang:
        raise ConflictError("budget_below_issued", f"budget_satang must be at least the "
                            f"{issued_satang} satang already issued.", {"issued_satang": issued_satang})
