"""Turn ``cdk deploy --outputs-file`` JSON into the frontend's configuration.

    python -m cdk_app.frontend_config cdk-outputs.json                       # JSON on stdout
    python -m cdk_app.frontend_config cdk-outputs.json --format dart-define  # flutter run/build flags
    python -m cdk_app.frontend_config cdk-outputs.json -o frontend-config.json
    python -m cdk_app.frontend_config local-outputs.json   # from wsctl local --outputs-file: "local": true

Only what a browser or app may see goes out: the ``wss://`` URL, the API id and the stage. The
management endpoint stays with the backend. A ``ws://`` URL is accepted only on a loopback host
(the local gateway); the configuration then says ``"local": true`` (``WEBSOCKET_LOCAL=true``). This module must not import aws_cdk (it runs in CI
and on laptops without the CDK installed).
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

REQUIRED_OUTPUTS = ("WebSocketUrl", "ApiId", "StageName")
DART_DEFINE_NAMES = {
    "websocketUrl": "WEBSOCKET_URL", "apiId": "WEBSOCKET_API_ID", "stageName": "WEBSOCKET_STAGE", "local": "WEBSOCKET_LOCAL",
}
FORMATS = ("json", "dart-define")


class FrontendConfigError(ValueError):
    """The outputs file cannot be turned into a frontend configuration; the message says why."""


@dataclass(frozen=True)
class FrontendConfig:
    """What the frontend needs to open the WebSocket."""

    websocket_url: str
    api_id: str
    stage_name: str
    local: bool = False
    """True for the local gateway (``ws://`` on a loopback host): never ship it in a release build."""

    def as_json(self) -> str:
        """The configuration as a JSON document (camelCase keys)."""
        return json.dumps(self._fields(), indent=2) + "\n"

    def as_dart_defines(self) -> str:
        """``--dart-define=NAME=value`` flags for ``flutter run`` / ``flutter build``, one line."""
        flags = [f"--dart-define={DART_DEFINE_NAMES[key]}={str(value).lower() if value is True else value}"
                 for key, value in self._fields().items()]
        return " ".join(shlex.quote(flag) for flag in flags) + "\n"

    def render(self, output_format: str) -> str:
        """Render in ``json`` or ``dart-define`` format."""
        if output_format == "json":
            return self.as_json()
        if output_format == "dart-define":
            return self.as_dart_defines()
        raise FrontendConfigError(f"unknown format {output_format!r}; expected one of {', '.join(FORMATS)}")

    def _fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"websocketUrl": self.websocket_url, "apiId": self.api_id, "stageName": self.stage_name}
        if self.local:
            fields["local"] = True
        return fields


def config_from_outputs(outputs: Mapping[str, Any], *, stack_name: str | None = None) -> FrontendConfig:
    """Pick the stack's outputs from a ``--outputs-file`` document and build the configuration.

    :param outputs: the parsed file, ``{stack name: {output name: value}}``.
    :param stack_name: which stack to read; optional when exactly one stack has a ``WebSocketUrl``.
    :raises FrontendConfigError: stack missing or ambiguous, an output missing, or a bad URL.
    """
    if not isinstance(outputs, Mapping):
        raise FrontendConfigError("the outputs file must hold a JSON object {stack name: {output: value}}")
    if stack_name is not None:
        if not isinstance(outputs.get(stack_name), Mapping):
            raise FrontendConfigError(f"stack {stack_name!r} not found; the file has: {', '.join(outputs) or 'none'}")
        stack_outputs = outputs[stack_name]
    else:
        candidates = [name for name, values in outputs.items() if isinstance(values, Mapping) and "WebSocketUrl" in values]
        if len(candidates) != 1:
            found = ", ".join(candidates) or "none"
            raise FrontendConfigError(
                f"expected exactly one stack with a WebSocketUrl output, found {found}; pass --stack NAME"
            )
        stack_outputs = outputs[candidates[0]]
    missing = [name for name in REQUIRED_OUTPUTS if not stack_outputs.get(name)]
    if missing:
        raise FrontendConfigError(f"outputs missing: {', '.join(missing)}; was the file written by cdk deploy --outputs-file?")
    url = str(stack_outputs["WebSocketUrl"])
    local = url.startswith("ws://") and _is_loopback(url)
    if not (url.startswith("wss://") or local):
        raise FrontendConfigError(
            f"WebSocketUrl {url!r} is not a wss:// URL (ws:// is accepted only on a loopback host: the local gateway)"
        )
    return FrontendConfig(websocket_url=url, api_id=str(stack_outputs["ApiId"]),
                          stage_name=str(stack_outputs["StageName"]), local=local)


def _is_loopback(url: str) -> bool:
    """True when the URL's host is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for bad input, with a one-line message)."""
    parser = argparse.ArgumentParser(prog="python -m cdk_app.frontend_config", description=__doc__.split("\n\n")[0])
    parser.add_argument("outputs_file", type=Path, help="JSON written by cdk deploy --outputs-file")
    parser.add_argument("--format", choices=FORMATS, default="json", help="json (default) or dart-define flags")
    parser.add_argument("--stack", help="stack name in the file (default: the one stack with a WebSocketUrl)")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    try:
        try:
            document = json.loads(args.outputs_file.read_text(encoding="utf-8"))
        except OSError as error:
            raise FrontendConfigError(f"cannot read {args.outputs_file}: {error.strerror}") from None
        except json.JSONDecodeError as error:
            raise FrontendConfigError(f"{args.outputs_file} is not JSON: {error.msg} (line {error.lineno})") from None
        config = config_from_outputs(document, stack_name=args.stack)
        text = config.render(args.format)
    except FrontendConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if config.local:
        print(f"note: a local configuration ({config.websocket_url}, the local gateway); not for a deployed frontend",
              file=sys.stderr)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
