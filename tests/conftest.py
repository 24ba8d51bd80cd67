"""Shared pytest configuration: Hypothesis profiles and the path to the shared reference data."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
#: ``make test`` draws the same examples on every run (reproducible CI); fresh random draws,
#: which keep finding new corner cases, with ``COXA_HYPOTHESIS_PROFILE=dev``.
settings.load_profile(os.environ.get("COXA_HYPOTHESIS_PROFILE", "ci"))

#: The project root (this file lives in ``<root>/tests``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
