"""The secrets the function reads: the database secret (imported) and the connect-token key."""
from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk_app.encryption import DataEncryptionKey

TOKEN_SECRET_LENGTH = 64
_COMPLETE_ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")


class NotificationSecrets(Construct):
    """Imports the database secret and creates (or imports) the connect-token signing secret.

    :param database_secret_arn: RDS-format secret ({username,password,host,port,dbname}); None
        when the function runs on its demo SQLite store.
    :param tokens_enabled: whether ``$connect`` checks signed tokens.
    :param token_secret_arn: an existing token secret; None creates one with a random 64-char key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        database_secret_arn: str | None,
        tokens_enabled: bool,
        token_secret_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.database_secret: secretsmanager.ISecret | None = (
            self._import("DatabaseSecret", database_secret_arn) if database_secret_arn else None
        )
        self.token_secret: secretsmanager.ISecret | None = None
        if tokens_enabled and token_secret_arn:
            self.token_secret = self._import("ConnectTokenSecret", token_secret_arn)
        elif tokens_enabled:
            self.token_secret = secretsmanager.Secret(
                self,
                "ConnectTokenSecret",
                description="HMAC-SHA256 key that signs WebSocket connect tokens (v1.{exp}.{sig})",
                encryption_key=DataEncryptionKey.of(self).key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=TOKEN_SECRET_LENGTH, exclude_punctuation=True
                ),
            )
            cdk.Validations.of(self.token_secret).acknowledge(
                cdk.Acknowledgment(
                    id="AwsSolutions::AwsSolutions-SMG4",
                    reason="The token key signs tokens that live at most 15 minutes; automatic rotation needs "
                    "a rotation function and would reject tokens already handed out. Rotate it by putting a "
                    "new value during a quiet period (README: Connect tokens)",
                )
            )

    def _import(self, construct_id: str, arn: str) -> secretsmanager.ISecret:
        """Import by complete ARN (with the random suffix) or by partial ARN (without it)."""
        if _COMPLETE_ARN_SUFFIX.search(arn):
            return secretsmanager.Secret.from_secret_complete_arn(self, construct_id, arn)
        return secretsmanager.Secret.from_secret_partial_arn(self, construct_id, arn)

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """Allow ``grantee`` to read every configured secret's value (and nothing else)."""
        for secret in (self.database_secret, self.token_secret):
            if secret is not None:
                secret.grant_read(grantee)
