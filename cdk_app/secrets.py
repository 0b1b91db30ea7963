"""The secrets the function reads: the database secret and the connect-token key.

Secrets Manager ARNs: a *complete* ARN ends with ``-`` and six random characters after the
secret's name (``...:secret:prod/db-master-AbC12x``); a *partial* ARN stops at the name
(``...:secret:prod/db-master``). Names may contain hyphens, so the shape alone is ambiguous for a
name whose last six characters follow a hyphen (``rds-secret``, ``db-master``). The random suffix
is drawn from upper- and lower-case letters and digits, so:

* ``-`` + six characters with at least one digit or upper-case letter: complete;
* no such ending: partial (grants use ``ARN-??????``);
* ``-`` + six lower-case letters: ambiguous. Both readings are granted (``ARN`` exactly and
  ``ARN-??????``): the exact form can only match the one secret whose full ARN it is.
"""
from __future__ import annotations

import enum
import re

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk_app.encryption import DataEncryptionKey

TOKEN_SECRET_LENGTH = 64
_SUFFIX = re.compile(r"-([A-Za-z0-9]{6})$")
_READ_ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]


class ArnShape(enum.Enum):
    """How a Secrets Manager ARN ends."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    AMBIGUOUS = "ambiguous"


def arn_shape(arn: str) -> ArnShape:
    """Classify a secret ARN as complete, partial or ambiguous (see the module docstring)."""
    name = arn.split(":secret:", 1)[-1]
    match = _SUFFIX.search(name)
    if match is None or match.start() == 0:
        return ArnShape.PARTIAL
    suffix = match.group(1)
    if any(c.isdigit() or c.isupper() for c in suffix):
        return ArnShape.COMPLETE
    return ArnShape.AMBIGUOUS


class NotificationSecrets(Construct):
    """Imports (or is given) the database secret and creates (or imports) the connect-token secret.

    :param database_secret_arn: RDS-format secret ARN ({username,password[,host,port,dbname]});
        None when the stack creates the database (``database_secret``) or runs the demo SQLite store.
    :param database_secret: a secret built in this app (the created database's); exclusive with the ARN.
    :param database_secret_kms_key_arn: customer-managed KMS key that encrypts the database secret;
        the reader gets ``kms:Decrypt`` on it, through Secrets Manager only.
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
        database_secret: secretsmanager.ISecret | None = None,
        database_secret_kms_key_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._exact_arns: list[str] = []
        self.database_secret_kms_key_arn = database_secret_kms_key_arn
        self.database_secret: secretsmanager.ISecret | None = database_secret or (
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
        """Import by complete ARN, or by partial ARN (grants then use ``-??????``)."""
        shape = arn_shape(arn)
        if shape is ArnShape.COMPLETE:
            return secretsmanager.Secret.from_secret_complete_arn(self, construct_id, arn)
        if shape is ArnShape.AMBIGUOUS:
            self._exact_arns.append(arn)
        return secretsmanager.Secret.from_secret_partial_arn(self, construct_id, arn)

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """Allow ``grantee`` to read every configured secret's value (and decrypt it), nothing else."""
        if self.token_secret is not None:
            self.token_secret.grant_read(grantee)
        self.grant_read_database(grantee)

    def grant_read_database(self, grantee: iam.IGrantable) -> None:
        """Allow ``grantee`` to read (and decrypt) the database secret only: the ops function, which
        never checks a connect token."""
        if self.database_secret is not None:
            self.database_secret.grant_read(grantee)
        if self._exact_arns:
            iam.Grant.add_to_principal(grantee=grantee, actions=_READ_ACTIONS, resource_arns=self._exact_arns)
        self.grant_decrypt_database_secret(grantee)

    def grant_decrypt_database_secret(self, grantee: iam.IGrantable) -> None:
        """``kms:Decrypt`` on ``databaseSecretKmsKeyArn`` through Secrets Manager only (nothing without
        that setting): for the functions and the RDS Proxy's role, which reads the same secret."""
        if self.database_secret_kms_key_arn:
            # Explicit: CDK skips the grant for a key it considers in another environment (an env-agnostic stack).
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["kms:Decrypt"],
                resource_arns=[self.database_secret_kms_key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{cdk.Aws.REGION}.{cdk.Aws.URL_SUFFIX}"}},
            )
