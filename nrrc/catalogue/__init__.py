"""Agreements as data: TOML files of kinds, fields and rules with citations.

Load with :func:`load_catalogue`; every problem in every file is reported at once.
"""

from nrrc.catalogue._loader import Catalogue, builtin_paths, load_catalogue
from nrrc.catalogue._model import (
    WEEKDAYS,
    Agreement,
    Applicability,
    Citation,
    Condition,
    FieldSpec,
    FieldType,
    Kind,
    MeasuredAt,
    Regime,
    Rule,
    RuleType,
    Severity,
    Source,
    Verified,
    status_to_verified,
)

__all__ = [
    "WEEKDAYS",
    "Agreement",
    "Applicability",
    "Catalogue",
    "Citation",
    "Condition",
    "FieldSpec",
    "FieldType",
    "Kind",
    "MeasuredAt",
    "Regime",
    "Rule",
    "RuleType",
    "Severity",
    "Source",
    "Verified",
    "builtin_paths",
    "load_catalogue",
    "status_to_verified",
]
