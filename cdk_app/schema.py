"""Schema migration on deploy: a custom resource served by the function itself."""
from __future__ import annotations

import hashlib
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk_app.runtime_contract import MIGRATE_ACTION, MIGRATIONS_DIR

MIN_SERVICE_TIMEOUT_SECONDS = 300
"""How long CloudFormation waits for the function's answer before failing the deploy (its default is
one hour): at least 5 minutes, and a minute more than the function's timeout. The function caps its
migration-lock wait below its timeout, so an answer that has not come by then never will."""


def service_timeout(function_timeout_seconds: int) -> cdk.Duration:
    """The custom resource's wait: :data:`MIN_SERVICE_TIMEOUT_SECONDS`, or the function's timeout plus a minute."""
    return cdk.Duration.seconds(max(MIN_SERVICE_TIMEOUT_SECONDS, function_timeout_seconds + 60))


def migrations_fingerprint(migrations_dir: Path = MIGRATIONS_DIR) -> str:
    """SHA-256 over the names and contents of the migration files ("none" when there are none).

    A new or changed migration changes the fingerprint, which updates the custom resource and so
    runs ``migrate`` again on the next deploy.
    """
    files = sorted(p for p in migrations_dir.glob("*") if p.is_file()) if migrations_dir.is_dir() else []
    if not files:
        return "none"
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class SchemaMigration(Construct):
    """Runs the function's ``migrate`` action on create and update, before clients connect.

    The function is the custom resource's service token: it recognises CloudFormation
    custom-resource events, migrates, and PUTs the response to the pre-signed URL itself (so a
    function in a VPC needs a route to S3: a NAT gateway or an S3 gateway endpoint).

    :param handler: the bundled function that runs ``migrate`` (the ops function).
    :param function_timeout_seconds: that function's timeout (sets how long CloudFormation waits).
    :param migrations_dir: folder whose contents are fingerprinted into the resource's properties.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        function_timeout_seconds: int,
        migrations_dir: Path = MIGRATIONS_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        self.fingerprint = migrations_fingerprint(migrations_dir)
        self.resource = cdk.CustomResource(
            self,
            "Migrate",
            service_token=handler.function_arn,
            resource_type="Custom::WebSocketSchemaMigration",
            service_timeout=service_timeout(function_timeout_seconds),
            properties={"action": MIGRATE_ACTION, "migrationsHash": self.fingerprint},
        )
