#!/usr/bin/env python3
"""CDK entry point: builds the app from settings (cdk.json context and -c overrides) and synthesizes."""
import sys

from cdk_app.application import build_app
from cdk_app.settings import SettingsError


def main() -> int:
    """Synthesize, or print the invalid setting and exit 1 (no stack trace for bad input)."""
    try:
        app, _stack = build_app()
    except SettingsError as error:
        print(f"Invalid setting: {error}", file=sys.stderr)
        return 1
    except RuntimeError as error:  # a BundlingError (pip, or no Python 3.14) arrives through jsii as RuntimeError
        if "Failed to bundle asset" not in str(error):
            raise
        print(error, file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
