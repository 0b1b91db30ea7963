"""Builds the CDK app: settings from context, the stack, and the cdk-nag compliance checks."""
from __future__ import annotations

from typing import Any, Mapping

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from cdk_app.extension_layer import UnsupportedRegionError, check_region
from cdk_app.settings import SettingsError, StackSettings
from cdk_app.stack import WebSocketNotificationStack

STACK_ID = "WebSocketNotifications"


def build_app(
    *,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    compliance_checks: bool = True,
    region: str | None = None,
) -> tuple[cdk.App, WebSocketNotificationStack]:
    """Create the app and its one stack.

    :param context: extra context (tests); the CLI passes ``cdk.json`` and ``-c`` values itself.
    :param outdir: where to write the cloud assembly (the CLI sets it; tests pass a temp folder).
    :param compliance_checks: run cdk-nag's AwsSolutions and Serverless packs at synth; any
        unacknowledged finding fails the synth.
    :param region: synthesize for this one region (from Python: tests, pipelines that pin a
        region). None (``app.py``) gives the region-agnostic template that deploys to any supported
        region; ``app.py`` ignores ``CDK_DEFAULT_REGION`` because the CLI always sets it (us-east-1
        when nothing is configured). The account is never set, so synth makes no AWS lookups.
    :raises cdk_app.settings.SettingsError: a context value is invalid, or the region is not supported.
    """
    if region is not None:
        try:
            check_region(region)
        except UnsupportedRegionError as error:
            raise SettingsError(str(error)) from None
    app = cdk.App(context=dict(context or {}), outdir=outdir)
    settings = StackSettings.from_context(app.node)
    stack = WebSocketNotificationStack(
        app,
        STACK_ID,
        settings=settings,
        env=cdk.Environment(region=region) if region else None,
        description="WebSocket notification channel on API Gateway (connect, notify, cleanup)",
    )
    if compliance_checks:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app, stack
