"""A finding of the rule engine: about one rep, or about a session's reps together."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from coxa.geometry import Side

#: Rule ids, in the order the engine checks them: the per-rep rules
#: (:meth:`~coxa.analysis.FindingRules.evaluate`), then the session rules
#: (:meth:`~coxa.analysis.FindingRules.evaluate_session`).
FINDING_RULES = (
    "short_of_demand",
    "at_capacity",
    "pelvis_compensation",
    "front_knee_back",
    "asymmetry",
    "set_asymmetry",
)


@dataclass(frozen=True)
class Finding:
    """Something the rules noticed in one rep, or in a session's reps together.

    Attributes
    ----------
    rule : str
        Rule id, one of :data:`FINDING_RULES`.
    side : {'r', 'l'} or None
        The leg it is about (``asymmetry``, ``set_asymmetry``: the leg with less rotation).
    rep : int or None
        1-based rep number; None for a session finding (``set_asymmetry``), which compares
        several reps (their counts are in ``values``).
    message : str
        The reason in plain words, with the numbers.
    values : mapping of str to float
        The numbers behind it (degrees in names ending in ``_deg``; counts of reps in names
        starting with ``n_``).
    """

    rule: str
    side: Side | None
    rep: int | None
    message: str
    values: Mapping[str, float]
