"""Every domain limit of the program, once, each named with its unit last.

The request specs (``chalicelib.validation`` and the ``requests`` modules of
each package), the use cases, the ledger and the OpenAPI document all take
their bounds from here, so that what is checked and what is documented
cannot differ. Patterns are unanchored regular expressions (the specs
anchor them, and compile each once). Pure: no imports.
"""
from __future__ import annotations

__all__ = [
    "ACTIVATION_BUCKETS",
    "REQUEST_AMOUNT_SATANG_MAX", "TRANSFER_AMOUNT_SATANG_MAX", "PHASE_BUDGET_SATANG_MAX",
    "PAGE_SIZE_DEFAULT", "PAGE_SIZE_MAX", "CURSOR_CHARS_MAX",
    "PHASE_WAVES_MAX", "PHASE_TRANCHES_MAX", "PHASE_EXCLUSION_LISTS_MAX", "PHASE_RESTRICTED_CATEGORIES_MAX",
    "PHASE_EXPIRES_AFTER_DAYS_MAX", "TRANCHE_AFTER_DAYS_MAX", "PHASE_TIME_PAST_DAYS_MAX",
    "EXCLUSION_CIDS_PER_REQUEST_MAX", "EXCLUSION_SYNC_CIDS_MAX", "EXCLUSION_IMPORT_CHUNK_IDS",
    "EXCLUSION_IMPORT_ID_CHARS_MAX", "EXCLUSION_IMPORT_ID_PATTERN", "MERCHANT_REFERENCE_ENTRIES_MAX",
    "MERCHANT_BALANCE_SHARDS_MAX",
    "PHASE_ID_CHARS_MAX", "PHASE_ID_PATTERN", "PHASE_NAME_CHARS_MAX",
    "LIST_NAME_CHARS_MAX", "LIST_NAME_PATTERN",
    "CATEGORY_CHARS_MAX", "CATEGORY_PATTERN",
    "BUSINESS_TYPE_CHARS_MAX", "BUSINESS_TYPE_PATTERN",
    "MERCHANT_NAME_CHARS_MAX", "REASON_CHARS_MAX", "MERCHANT_ID_CHARS_MAX",
    "ACCOUNT_NO_DIGITS_MIN", "ACCOUNT_NO_DIGITS_MAX", "ACCOUNT_NO_PATTERN",
    "BANK_CODE_PATTERN", "BANK_CODES",
    "DISTRICT_PATTERN", "PROVINCE_DIGITS",
    "CID_PATTERN", "PHONE_CHARS_MAX", "PHONE_PATTERN", "PIN_DIGITS", "PIN_PATTERN",
    "CARD_CODE_CHARS_MAX", "CARD_PIN_CHARS_MAX", "QR_PAYLOAD_CHARS_MAX",
    "SWITCH_SCOPE_PATTERN", "SWITCH_SCOPE_CHARS_MAX",
    "LATITUDE_DEG_RANGE", "LONGITUDE_DEG_RANGE",
    "SIZE_CLASSES", "SPENDING_SCOPES",
    "RATE_WINDOW_S", "PAYMENTS_PER_CALLER_PER_WINDOW_MAX", "REGISTRATIONS_PER_CALLER_PER_WINDOW_MAX",
    "REGISTRAR_ACTIONS_PER_POINT_PER_WINDOW_MAX", "MERCHANT_REGISTRATIONS_PER_CALLER_PER_WINDOW_MAX",
    "POINT_FOREIGN_WINDOW_S", "POINT_FOREIGN_ACTIONS_PER_WINDOW_MAX",
    "OPERATOR_WRITES_PER_CALLER_PER_WINDOW_MAX", "QR_ISSUES_PER_CALLER_PER_WINDOW_MAX",
    "POINT_ID_CHARS_MAX", "POINT_ID_PATTERN", "REQUEST_BODY_BYTES_MAX", "BULK_BODY_BYTES_MAX",
    "PAYOUT_ID_CHARS_MAX", "PAYOUT_ID_PATTERN", "ALERT_ID_CHARS_MAX", "ALERT_ID_PATTERN",
    "BANK_MESSAGE_TRANSACTIONS_MAX",
]

# Accepted registrations of one wave are spread over this many index keys,
# so that neither registration day (tens of thousands a second) nor a wave's
# activation hits one hot partition of the by-wave index (1,000 WCU each).
ACTIVATION_BUCKETS = 64

# -- money ------------------------------------------------------------------------

# API.md: any amount a request names is at most 10 million baht.
REQUEST_AMOUNT_SATANG_MAX = 1_000_000_000
# The ledger's bound on one transfer: far above any request, because
# saving a phase funds its whole budget (2.7e12 satang for phase 3, ~14x that
# for the next) in one transfer from the government budget account.
TRANSFER_AMOUNT_SATANG_MAX = 10**15
# A phase's budget is funded by one transfer, so it is bounded by one.
PHASE_BUDGET_SATANG_MAX = TRANSFER_AMOUNT_SATANG_MAX

# -- lists and pages ---------------------------------------------------------------

# API.md: ?limit= is 1..100, default 50.
PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 100
# A cursor is an encoded sort key (a time and a transfer id): well under this.
CURSOR_CHARS_MAX = 512
# Far above any plan (phase 3 uses a handful of waves); bounds the definition
# and the wave an operator may name when activating.
PHASE_WAVES_MAX = 100
PHASE_TRANCHES_MAX = 24
PHASE_EXCLUSION_LISTS_MAX = 50
PHASE_RESTRICTED_CATEGORIES_MAX = 100
PHASE_EXPIRES_AFTER_DAYS_MAX = 3650
# A phase's times (registration opening and closing, each wave) as saved
# new or changed are at most this far before now: a wave decades back is a
# typo (2005 for 2025), and would credit at once. A phase saved before keeps
# its times; re-saving it unchanged is always allowed.
PHASE_TIME_PAST_DAYS_MAX = 365
TRANCHE_AFTER_DAYS_MAX = 3650
# One import carries at most this many IDs (about 1.6 MB of JSON, under API
# Gateway's 10 MB); a larger agency list is sent in several requests.
EXCLUSION_CIDS_PER_REQUEST_MAX = 100_000
# Up to this many IDs are imported within the request (200 {"added"}); a
# larger body is stored and imported by a queue worker (202 with an import
# id): 100,000 IDs took 108 s in one request, past API Gateway's 29 s.
EXCLUSION_SYNC_CIDS_MAX = 5_000
# A stored import is cut into items of this many keyed hashes (65 bytes
# each: ~65 KB an item, under DynamoDB's 400 KB); the worker's cursor moves
# one chunk at a time.
EXCLUSION_IMPORT_CHUNK_IDS = 1_000
EXCLUSION_IMPORT_ID_CHARS_MAX = 40
EXCLUSION_IMPORT_ID_PATTERN = r"ei_[0-9a-f]{32}"
MERCHANT_REFERENCE_ENTRIES_MAX = 1_000
# Items a shop's balance may be split into (CAPACITY.md, Hot items): a
# withdrawal drawing on every shard is one transaction of shards + 3 items.
MERCHANT_BALANCE_SHARDS_MAX = 32

# -- names and codes ------------------------------------------------------------

PHASE_ID_CHARS_MAX = 64
# A phase id appears in URLs and account ids: no separator of either.
PHASE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]*"
PHASE_NAME_CHARS_MAX = 200
# One pattern for a phase's exclusion_lists and the list an import fills: a
# name the import refuses would make a phase that silently excludes nobody.
LIST_NAME_CHARS_MAX = 64
LIST_NAME_PATTERN = r"[a-z][a-z0-9_]*"
CATEGORY_CHARS_MAX = 40
CATEGORY_PATTERN = r"[a-z][a-z0-9_]*"
BUSINESS_TYPE_CHARS_MAX = 40
BUSINESS_TYPE_PATTERN = r"[a-z][a-z0-9_]*"
MERCHANT_NAME_CHARS_MAX = 100
MERCHANT_ID_CHARS_MAX = 64
REASON_CHARS_MAX = 500

# Thai deposit account numbers are 10 digits at most banks, 12 at a few
# (GSB, BAAC); anything else is a typing mistake.
ACCOUNT_NO_DIGITS_MIN = 10
ACCOUNT_NO_DIGITS_MAX = 12
ACCOUNT_NO_PATTERN = f"[0-9]{{{ACCOUNT_NO_DIGITS_MIN},{ACCOUNT_NO_DIGITS_MAX}}}"
BANK_CODE_PATTERN = r"[0-9]{3}"
# Bank of Thailand codes of the banks that take the program's payouts: the
# retail deposit-taking banks on PromptPay, where small shops and citizens
# hold the accounts that withdrawals and cash transfers are paid into.
# Left out: banks without retail accounts for shops (Citibank's retail
# business went to UOB, 024, in 2022; Standard Chartered 020, Mizuho 039,
# BNP Paribas 045 and Bank of China 052 serve companies), the specialised
# lenders EXIM 035 and SME D 098, and Thanachart 065, merged into ttb 011.
BANK_CODES = frozenset({
    "002",  # Bangkok Bank
    "004",  # Kasikornbank
    "006",  # Krungthai
    "011",  # TMBThanachart (ttb)
    "014",  # Siam Commercial Bank
    "022",  # CIMB Thai
    "024",  # UOB
    "025",  # Krungsri (Bank of Ayudhya)
    "030",  # Government Savings Bank
    "033",  # Government Housing Bank
    "034",  # BAAC
    "066",  # Islamic Bank of Thailand
    "067",  # TISCO
    "069",  # Kiatnakin Phatra
    "070",  # ICBC (Thai)
    "071",  # Thai Credit Bank
    "073",  # LH Bank
})

# DOPA district codes: 4 digits, the first two the province (API.md).
DISTRICT_PATTERN = r"[1-9][0-9]{3}"
PROVINCE_DIGITS = 2

# A registration point's id, as the identity provider puts it in a
# registrar's token; it names the point's audit chain and rate counters.
POINT_ID_CHARS_MAX = 64
POINT_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"

# -- personal identifiers --------------------------------------------------------

CID_PATTERN = r"[0-9]{13}"
# A Thai mobile number 0[689]xxxxxxxx, also written +66..., with spaces or
# dashes anywhere (they are taken out).
PHONE_CHARS_MAX = 32
PHONE_PATTERN = r"[\s-]*(?:\+(?:[\s-]*6){2}|0)[\s-]*[689](?:[\s-]*[0-9]){8}[\s-]*"
PIN_DIGITS = 6
PIN_PATTERN = f"[0-9]{{{PIN_DIGITS}}}"
# A card code as typed: 12 symbols, with dashes or spaces.
CARD_CODE_CHARS_MAX = 20
# A PIN as typed at a shop: checked against the card's hash, never for shape
# first (a wrong PIN counts as a wrong PIN, whatever its length).
CARD_PIN_CHARS_MAX = 12
# EMVCo payloads are short; a longer string is not one of ours.
QR_PAYLOAD_CHARS_MAX = 512

# -- operations ------------------------------------------------------------------

SWITCH_SCOPE_PATTERN = f"(?:all|district:{DISTRICT_PATTERN}|bank:{BANK_CODE_PATTERN})"
SWITCH_SCOPE_CHARS_MAX = 13
# Thailand's bounding box, with a margin: a shop elsewhere is a typing mistake.
LATITUDE_DEG_RANGE = (5.0, 21.0)
LONGITUDE_DEG_RANGE = (97.0, 106.0)

# -- payouts and alerts ----------------------------------------------------------

# A withdrawal's or cash transfer's id (the bank's end_to_end_id): a prefix
# and a hash, as the API made it.
PAYOUT_ID_CHARS_MAX = 80
PAYOUT_ID_PATTERN = r"(?:wd|ct)_[0-9a-f]{8,64}"
ALERT_ID_CHARS_MAX = 64
ALERT_ID_PATTERN = r"al_[0-9a-f]{8,60}"
# BANKS.md: one bulk pacs.008 or pacs.002 carries 1 to 500 transactions.
BANK_MESSAGE_TRANSACTIONS_MAX = 500

# -- vocabularies ----------------------------------------------------------------

SIZE_CLASSES = ("small", "medium", "large")
SPENDING_SCOPES = ("district", "province", "nationwide")

# A request body: every request of the API is a few hundred bytes, a phase
# definition a few KB; only the bulk imports (exclusions: 100,000 IDs, about
# 1.6 MB; the merchant reference) declare BULK_BODY_BYTES_MAX.
REQUEST_BODY_BYTES_MAX = 64 * 1024
BULK_BODY_BYTES_MAX = 4 * 1024 * 1024

# -- abuse limits (chalicelib.ratelimit: per caller, fixed windows in DynamoDB) ---

RATE_WINDOW_S = 60
# A shop counter takes a sale every few seconds at its busiest; a citizen or
# shop moving money faster than one a second for a minute is a script.
PAYMENTS_PER_CALLER_PER_WINDOW_MAX = 60
# A citizen registers for a handful of phases; retries of one are a few more.
REGISTRATIONS_PER_CALLER_PER_WINDOW_MAX = 10
MERCHANT_REGISTRATIONS_PER_CALLER_PER_WINDOW_MAX = 10
# A registration point serves a queue of people, one every minute or two per
# desk; a few desks share a point id.
REGISTRAR_ACTIONS_PER_POINT_PER_WINDOW_MAX = 30
# Actions of a point on citizens it did not register (a card reissued or
# unlocked, a registration repeated, an ID card that did not match): a
# lost card now and then; dozens an hour is a point taking over wallets.
POINT_FOREIGN_WINDOW_S = 3600
POINT_FOREIGN_ACTIONS_PER_WINDOW_MAX = 20
# An operator at a console changes a phase, a switch or a review every few
# seconds at most; a stolen operator session scripted is far faster.
OPERATOR_WRITES_PER_CALLER_PER_WINDOW_MAX = 60
# A QR is shown per sale; a wholesaler's tills together (one owner token per
# shop) show a few a second at a rush, as the launch rehearsal's round 2
# does; a script minting QRs by the tens of thousands is stopped.
QR_ISSUES_PER_CALLER_PER_WINDOW_MAX = 1_200
