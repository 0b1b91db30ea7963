#!/usr/bin/env python3
"""CDK entry point: builds the app from settings (cdk.json context and -c overrides) and synthesizes."""
import os
import sys

from cdk_app.application import build_app
from cdk_app.settings import SettingsError


def main() -> int:
    """Synthesize, or print the invalid setting and exit 1 (no stack trace for bad input)."""
    try:
        # The CLI sets CDK_DEFAULT_REGION from the credentials' region: the template then carries exactly
        # that region's secrets-extension layer (or none). Without it the template is region-agnostic.
        app, _stack = build_app(region=os.environ.get("CDK_DEFAULT_REGION") or None)
    except SettingsError as error:
        print(f"Invalid setting: {error}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
