"""AWS-shaped event fixtures (JSON files beside this module) and a loader for tests."""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).parent


@lru_cache(maxsize=None)
def _read(name: str) -> Any:
    return json.loads((EVENTS_DIR / name).read_text())


def load_event(name: str) -> Any:
    """A fresh deep copy of ``tests/events/{name}`` (``.json`` optional), safe to mutate."""
    return copy.deepcopy(_read(name if name.endswith(".json") else f"{name}.json"))
