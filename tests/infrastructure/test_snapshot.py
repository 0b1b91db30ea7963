"""One snapshot of the whole default template: a tripwire for unintended changes.

Asset hashes and CDK version metadata are normalised so the snapshot only changes when the
template does. Update it deliberately with ``pytest tests/infrastructure --snapshot-update``.
"""
from __future__ import annotations

import json
import re
from typing import Any

from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from .conftest import Synthesis

ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def normalised(template: dict[str, Any]) -> dict[str, Any]:
    """The template with asset hashes replaced and the CDK analytics resource removed."""
    template = json.loads(ASSET_HASH.sub("ASSET_HASH", json.dumps(template)))
    template["Resources"].pop("CDKMetadata", None)
    template.get("Conditions", {}).pop("CDKMetadataAvailable", None)
    if not template.get("Conditions"):
        template.pop("Conditions", None)
    return template


def test_normalisation_replaces_asset_hashes() -> None:
    sample = {"Resources": {"F": {"S3Key": "a" * 64 + ".zip"}, "CDKMetadata": {}}, "Conditions": {"CDKMetadataAvailable": {}}}
    assert normalised(sample) == {"Resources": {"F": {"S3Key": "ASSET_HASH.zip"}}}


def test_default_template_matches_the_snapshot(default: Synthesis, snapshot: SnapshotAssertion) -> None:
    template = normalised(default.template_json)
    assert "ASSET_HASH.zip" in json.dumps(template)
    assert template == snapshot.use_extension(JSONSnapshotExtension)
