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
settings.load_profile("ci" if os.environ.get("CI") else "dev")

#: The project root (this file lives in ``<root>/tests``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
