"""The requests of registration, as the specs that parse them and write
their OpenAPI schemas: a citizen's registration, a registrar's assisted
registration and card unlock, and the identity a citizen token carries."""
from __future__ import annotations

from chalicelib import limits
from chalicelib.validation import Cid, Const, Date, District, Obj, Opt, Params, PhaseId, Phone, Pin, Str

__all__ = ["REGISTRATION_BODY", "ASSISTED_REGISTRATION_BODY", "CARD_UNLOCK_BODY", "CARD_CODE_PATH",
           "CARD_REISSUE_BODY", "CARD_UNLOCK_BY_BODY", "CITIZEN_CLAIMS"]

_CONSENT = Const(True, "the citizen agrees to the program's terms")

REGISTRATION_BODY = Obj({"phase_id": PhaseId(), "consent": _CONSENT, "phone": Opt(Phone())})
ASSISTED_REGISTRATION_BODY = Obj({
    "phase_id": PhaseId(), "cid": Cid(), "birth_date": Date(), "district": District(), "consent": _CONSENT,
    "pin": Pin(),
})
CARD_UNLOCK_BODY = Obj({"cid": Cid(), "pin": Pin()})
# The card's own checks (its check symbol, the letters read as digits) are
# the cards module's: a code as typed, here only bounded.
_CARD_CODE = Str(1, limits.CARD_CODE_CHARS_MAX, hint="the 12-character code printed on the card")
CARD_CODE_PATH = Params("path", {"card_code": _CARD_CODE})
CARD_REISSUE_BODY = Obj({"cid": Cid(), "birth_date": Date(), "district": District(), "pin": Pin()})
CARD_UNLOCK_BY_BODY = Obj({"card_code": _CARD_CODE, "cid": Cid(), "birth_date": Date(), "pin": Pin()})
# What a citizen token must carry (API.md); its other claims are not ours.
CITIZEN_CLAIMS = Obj({"cid": Cid(), "birth_date": Date(), "district": District()}, closed=False)
