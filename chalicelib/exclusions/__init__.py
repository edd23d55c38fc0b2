"""Exclusion lists (welfare-card holders, prisoners, ...) keyed by hashed ID."""
from chalicelib.exclusions import imports
from chalicelib.exclusions.models import ExclusionModel
from chalicelib.exclusions.requests import EXCLUSIONS_BODY
from chalicelib.exclusions.service import import_list, list_sizes, lists_containing

__all__ = [
    "ExclusionModel",
    "imports",
    "EXCLUSIONS_BODY",
    "import_list",
    "lists_containing",
    "list_sizes",
]
