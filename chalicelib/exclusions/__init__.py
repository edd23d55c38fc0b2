"""Exclusion lists (welfare-card holders, prisoners, ...) keyed by hashed ID."""
from chalicelib.exclusions.models import ExclusionModel
from chalicelib.exclusions.service import (
    CIDS_PER_REQUEST_MAX,
    import_list,
    lists_containing,
    validate_cid,
    validate_list_name,
)

__all__ = [
    "ExclusionModel",
    "CIDS_PER_REQUEST_MAX",
    "import_list",
    "lists_containing",
    "validate_cid",
    "validate_list_name",
]
