"""A per-rep finding of the rule engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from coxa.geometry import Side

#: Rule ids, in the order the engine checks them.
FINDING_RULES = (
    "short_of_demand",
    "at_capacity",
    "pelvis_compensation",
    "front_knee_back",
    "asymmetry",
)


@dataclass(frozen=True)
class Finding:
    """Something the rules noticed in one rep.

    Attributes
    ----------
    rule : str
        Rule id, one of :data:`FINDING_RULES`.
    side : {'r', 'l'} or None
        The leg it is about (``asymmetry``: the leg with less rotation).
    rep : int
        1-based rep number.
    message : str
        The reason in plain words, with the numbers.
    values : mapping of str to float
        The numbers behind it (degrees; names end in ``_deg``).
    """

    rule: str
    side: Side | None
    rep: int
    message: str
    values: Mapping[str, float]
