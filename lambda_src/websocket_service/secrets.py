"""Secrets Manager reads through the AWS Parameters and Secrets Lambda Extension.

The extension listens on ``localhost:${PARAMETERS_SECRETS_EXTENSION_HTTP_PORT:-2773}`` and caches
secrets; asking it over plain HTTP (urllib) keeps boto3 off the cold path. Only when the extension
does not answer at all (not installed, e.g. outside Lambda) do we fall back to boto3. Secret values
are never logged; errors name the secret id and the HTTP status only.
"""
from __future__ import annotations

import json
import os
from typing import Mapping

from . import observability as obs
from .errors import ServiceError

ENV_EXTENSION_PORT = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"
DEFAULT_EXTENSION_PORT = 2773
TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"  # nosec B105 # an HTTP header's name, not a secret


class SecretFetchError(ServiceError, RuntimeError):
    """A secret could not be read (access denied, not found, extension error, no string value)."""

    code = "config_error"


def _extension_url(secret_id: str, env: Mapping[str, str]) -> str:
    import urllib.parse

    port = env.get(ENV_EXTENSION_PORT, "").strip() or str(DEFAULT_EXTENSION_PORT)
    query = urllib.parse.urlencode({"secretId": secret_id})
    return f"http://localhost:{port}/secretsmanager/get?{query}"


def _from_extension(secret_id: str, env: Mapping[str, str], timeout_s: float) -> str | None:
    """The secret string via the extension, or None if nothing listens on its port."""
    # urllib is imported here, not at module load: runs without secrets never pay ~60 ms for it.
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    request = urllib.request.Request(
        _extension_url(secret_id, env), headers={TOKEN_HEADER: env.get("AWS_SESSION_TOKEN", "")}
    )
    try:
        with opener.open(request, timeout=timeout_s) as response:
            document = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise SecretFetchError(
            f"the secrets extension answered HTTP {error.code} for secret {secret_id!r}; "
            "check the function role may read it (secretsmanager:GetSecretValue)"
        ) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    except ValueError:
        raise SecretFetchError(f"the secrets extension returned non-JSON for secret {secret_id!r}") from None
    value = document.get("SecretString") if isinstance(document, dict) else None
    if not isinstance(value, str):
        raise SecretFetchError(f"secret {secret_id!r} has no SecretString (binary secrets are not supported)")
    return value


def _from_boto3(secret_id: str) -> str:
    import boto3  # deferred: only when the extension is absent
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = boto3.session.Session().client("secretsmanager").get_secret_value(SecretId=secret_id)
    except (ClientError, BotoCoreError) as error:
        raise SecretFetchError(f"could not read secret {secret_id!r}: {type(error).__name__}") from None
    value = response.get("SecretString")
    if not isinstance(value, str):
        raise SecretFetchError(f"secret {secret_id!r} has no SecretString (binary secrets are not supported)")
    return value


def get_secret_string(
    secret_id: str, *, env: Mapping[str, str] | None = None, timeout_s: float = 2.0
) -> str:
    """Return the ``SecretString`` of ``secret_id`` (an ARN or name).

    Tries the extension first; falls back to boto3 only if the extension does not answer.
    Raises :class:`SecretFetchError` with an actionable message.
    """
    env = os.environ if env is None else env
    value = _from_extension(secret_id, env, timeout_s)
    if value is None:
        obs.log("WARNING", "secrets extension not reachable; falling back to boto3", arn=secret_id)
        value = _from_boto3(secret_id)
    return value
