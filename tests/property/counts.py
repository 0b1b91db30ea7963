"""How many generated cases the property tests run, how many really ran, and the hypothesis profile.

The default profile ``ci`` is DERANDOMIZED (the same cases on every run, so CI is reproducible and a
failure is re-run exactly) with no example database and no per-example deadline (timing is not a
property). ``HYPOTHESIS_PROFILE=explore`` draws fresh random cases instead; a failure prints the
event that broke an invariant. Importing this module loads the profile (every property test does).
"""
from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
"""``ci`` (the default: derandomized, sized to keep ``make test`` near 12 minutes) or ``explore``."""
_SCALE = 2 if PROFILE == "explore" else 1
WEBSOCKET_CASES = 4_000 * _SCALE
"""Generated WebSocket events per run, each through both stores (twice as many when exploring)."""
OTHER_CASES = 1_000 * _SCALE
"""Generated payloads of every kind (WebSocket, direct, EventBridge, CloudFormation, any JSON)."""
GATEWAY_SAMPLE = 150
"""Generated client inputs sent to ``wsctl local`` over real sockets (a smaller sample: each opens a
real WebSocket connection)."""
CASES: Counter[str] = Counter()
"""Cases run in this session, per kind (printed in the terminal summary by ``conftest.py``)."""

_COMMON = dict(
    deadline=None,
    # One set of stores / one gateway serves all examples of a test on purpose (state carries over).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example],
    database=None,
)
settings.register_profile("ci", derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("explore", derandomize=False, **_COMMON)
settings.load_profile(PROFILE)
