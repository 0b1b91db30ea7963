"""``wsctl smoke``: prove a deployed stack (or ``wsctl local``) works end to end.

The smoke test does what a frontend and a backend do, against the stack's outputs only:

1. ``outputs``    read ``WebSocketUrl``, ``ManagementEndpoint``, ``FunctionName`` (and
                  ``ConnectTokenSecretArn`` if any) from a ``cdk deploy --outputs-file`` document
                  or from CloudFormation (``DescribeStacks``);
2. ``token``      mint a connect token with the stack's key (Secrets Manager), ``--token-secret``
                  or ``CONNECT_TOKEN_SECRET``; skipped when the stack has no token secret;
3. ``connect``    open the WebSocket as a client would (``?email=&type=&token=``);
4. ``ping``       ``{"action":"ping"}`` answers ``{"type":"pong"}`` (the ``$default`` route);
5. ``whoami``     ``{"action":"whoami"}`` answers the connection's own id;
6. ``notify``     Lambda Invoke of ``{"action":"notify",...}`` on ``FunctionName``, the path a
                  backend uses; the function must report the message sent;
7. ``receive``    the message (with this run's nonce) arrives on the WebSocket;
8. ``disconnect`` the client closes the connection;
9. ``inactive``   Lambda Invoke of ``{"action":"connection_status",...}`` until the function
                  reports the row inactive (``$disconnect`` reached it).

Each step has a deadline (``timeout_s``); the first failure stops the run and the report names
the step, what happened and a hint. Against ``wsctl local`` (a loopback ``http://`` management
endpoint), the Lambda calls go to the gateway's own Invoke API on the same port.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlencode, urlsplit

from websocket_service.config import ENV_CONNECT_TOKEN_SECRET
from websocket_service.messenger import ManagementEndpointError, region_of, validate_management_endpoint

DEFAULT_TIMEOUT_S = 30.0
"""Per-step deadline: above a cold start that resumes a paused Aurora Serverless v2 database."""
DEFAULT_CONNECTION_TYPE = "email-verification"
REQUIRED_OUTPUTS = ("WebSocketUrl", "ManagementEndpoint", "FunctionName")
OPTIONAL_OUTPUTS = ("ApiId", "StageName", "ConnectTokenSecretArn", "FunctionLogGroupName", "AccessLogGroupName")
STEPS = ("outputs", "token", "connect", "ping", "whoami", "notify", "receive", "disconnect", "inactive")
SMOKE_MESSAGE_TYPE = "smoke-test"
LOCAL_REGION = "us-east-1"
_POLL_FIRST_S = 0.2
_POLL_MAX_S = 2.0


class SmokeFailure(Exception):
    """A step failed: ``detail`` says what happened, ``hint`` what to do about it."""

    def __init__(self, detail: str, hint: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint


@dataclass(frozen=True, slots=True)
class StackOutputs:
    """The stack outputs the smoke test reads (see ``REQUIRED_OUTPUTS``)."""

    stack_name: str
    websocket_url: str
    management_endpoint: str
    function_name: str
    connect_token_secret_arn: str | None = None
    function_log_group_name: str | None = None

    @classmethod
    def from_mapping(cls, stack_name: str, outputs: Mapping[str, Any], *, source: str) -> "StackOutputs":
        """Check and pick the outputs of one stack; ``source`` names where they came from."""
        missing = [key for key in REQUIRED_OUTPUTS if not isinstance(outputs.get(key), str) or not outputs[key]]
        if missing:
            hint = "redeploy the stack with this version (it adds the output)" if missing == ["FunctionName"] else (
                "point --outputs at the file `cdk deploy --outputs-file` wrote, or pass --stack NAME")
            raise SmokeFailure(f"{source}: stack {stack_name!r} lacks output(s) {', '.join(missing)}",
                               f"{hint}; --function NAME overrides FunctionName")
        return cls(
            stack_name=stack_name,
            websocket_url=outputs["WebSocketUrl"],
            management_endpoint=outputs["ManagementEndpoint"],
            function_name=outputs["FunctionName"],
            connect_token_secret_arn=outputs.get("ConnectTokenSecretArn") or None,
            function_log_group_name=outputs.get("FunctionLogGroupName") or None,
        )

    @property
    def is_local(self) -> bool:
        """True for the local gateway (a loopback ``http://`` management endpoint)."""
        return urlsplit(self.management_endpoint).scheme == "http"

    @property
    def lambda_endpoint(self) -> str | None:
        """Where Lambda's API is: the local gateway's origin, or None for AWS's regional endpoint."""
        parts = urlsplit(self.management_endpoint)
        return f"{parts.scheme}://{parts.netloc}" if self.is_local else None

    def logs_hint(self) -> str:
        """Where to read the function's logs."""
        if self.is_local:
            return "read the `wsctl local` output"
        group = self.function_log_group_name or f"/aws/lambda/{self.function_name.rsplit(':', 1)[-1]}"
        return f"read the function's log group ({group}), e.g. `aws logs tail {group} --since 10m`"


@dataclass(frozen=True, slots=True)
class SmokeOptions:
    """How to run the smoke test.

    ``email`` defaults to a fresh ``smoke-{nonce}@example.com`` per run (never near the per-email
    cap); ``token_secret`` overrides the stack's key; ``region`` defaults to the one in the
    function ARN or the management endpoint; ``timeout_s`` bounds every step.
    """

    email: str | None = None
    connection_type: str = DEFAULT_CONNECTION_TYPE
    token_secret: str | None = None
    region: str | None = None
    function_name: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(slots=True)
class StepResult:
    """One step: ``status`` is ``pass``, ``fail`` or ``skipped``; ``ms`` its duration."""

    name: str
    status: str
    ms: float = 0.0
    detail: str = ""
    hint: str | None = None


@dataclass(slots=True)
class SmokeReport:
    """The outcome of a smoke run."""

    target: str
    steps: list[StepResult] = field(default_factory=list)
    total_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every step passed (skipped ones only as intended, e.g. no token secret)."""
        return self.failed is None

    @property
    def failed(self) -> StepResult | None:
        """The failing step, if any."""
        return next((step for step in self.steps if step.status == "fail"), None)

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready document."""
        failed = self.failed
        return {
            "ok": self.ok,
            "target": self.target,
            "total_ms": round(self.total_ms, 1),
            "failed_step": failed.name if failed else None,
            "hint": failed.hint if failed else None,
            "steps": [asdict(step) for step in self.steps],
        }

    def render(self) -> str:
        """A short human-readable report, one line per step."""
        lines = [f"wsctl smoke: {self.target}"]
        for step in self.steps:
            timing = f"{step.ms:8.0f} ms" if step.status != "skipped" or step.detail else " " * 11
            lines.append(f"  {step.status.upper():7} {step.name:10} {timing}  {step.detail}".rstrip())
        failed = self.failed
        if failed is None:
            lines.append(f"PASS: {sum(s.status == 'pass' for s in self.steps)} steps in {self.total_ms / 1000:.2f} s")
        else:
            lines.append(f"FAIL at step {failed.name}: {failed.detail}")
            lines.append(f"hint: {failed.hint}")
        return "\n".join(lines)


# --- reading the outputs ----------------------------------------------------------------------
def outputs_from_file(path: str | os.PathLike[str], *, stack_name: str | None = None) -> StackOutputs:
    """The stack's outputs from a ``cdk deploy --outputs-file`` document ``{stack: {key: value}}``.

    ``stack_name`` is needed only when the file holds several stacks with a ``WebSocketUrl``.
    """
    source = str(path)
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SmokeFailure(f"{source} does not exist",
                           "deploy with `make deploy` (it writes cdk-outputs.json), pass --outputs FILE, "
                           "or --stack NAME to read the outputs from CloudFormation") from None
    except (OSError, ValueError) as exc:
        raise SmokeFailure(f"cannot read {source}: {exc}", "pass the JSON file `cdk deploy --outputs-file` wrote") from None
    if not isinstance(document, dict) or not all(isinstance(v, dict) for v in document.values()):
        raise SmokeFailure(f"{source} is not a cdk outputs file {{stack name: {{output: value}}}}",
                           "pass the JSON file `cdk deploy --outputs-file` wrote")
    if stack_name is not None:
        if stack_name not in document:
            raise SmokeFailure(f"{source} has no stack {stack_name!r} (it has: {', '.join(document) or 'none'})",
                               "pass --stack with one of those names")
        return StackOutputs.from_mapping(stack_name, document[stack_name], source=source)
    candidates = [name for name, values in document.items() if "WebSocketUrl" in values]
    if len(candidates) != 1:
        names = ", ".join(candidates) or "none"
        raise SmokeFailure(f"{source} has {len(candidates)} stacks with a WebSocketUrl output ({names})",
                           "pass --stack NAME to pick one" if candidates else "pass the outputs file of this stack")
    return StackOutputs.from_mapping(candidates[0], document[candidates[0]], source=source)


def outputs_from_stack(stack_name: str, *, region: str | None, timeout_s: float) -> StackOutputs:
    """The stack's outputs from CloudFormation ``DescribeStacks`` (needs AWS credentials)."""
    client = _aws_client("cloudformation", region=region, timeout_s=timeout_s)
    response = _aws_call(lambda: client.describe_stacks(StackName=stack_name), "cloudformation:DescribeStacks",
                         f"the stack {stack_name!r}")
    stacks = response.get("Stacks") or []
    if not stacks:
        raise SmokeFailure(f"stack {stack_name!r} not found", "check --stack and --region")
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stacks[0].get("Outputs") or []}
    return StackOutputs.from_mapping(stack_name, outputs, source=f"CloudFormation ({stacks[0].get('StackStatus')})")


# --- AWS clients --------------------------------------------------------------------------------
def _aws_client(service: str, *, region: str | None, timeout_s: float, local_endpoint: str | None = None) -> Any:
    """A boto3 client with deadlines and no retries; ``local_endpoint`` (the local gateway) gets
    dummy credentials, which it accepts."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=min(10.0, timeout_s), read_timeout=timeout_s,
                    retries={"max_attempts": 1, "mode": "standard"})
    credentials = (  # the local gateway verifies no signature; any key pair works
        {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if local_endpoint else {}  # nosec B105 # placeholder, not a secret
    )
    return boto3.session.Session().client(service, region_name=region, endpoint_url=local_endpoint, config=config,
                                          **credentials)


def _aws_call(call: Callable[[], Any], permission: str, what: str) -> Any:
    """Run one AWS API call; botocore's errors become a :class:`SmokeFailure` with a hint."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        return call()
    except NoCredentialsError:
        raise SmokeFailure("no AWS credentials",
                           "configure them (AWS_PROFILE, `aws sso login`, or the AWS_* variables)") from None
    except NoRegionError:
        raise SmokeFailure("no AWS region", "pass --region or set AWS_REGION") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message", "")
        if code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "ExpiredTokenException"):
            hint = f"the caller's credentials need {permission} on {what}"
        elif code in ("ResourceNotFoundException", "ValidationError"):
            hint = f"{what} does not exist in this account and region: check the outputs and --region"
        else:
            hint = f"AWS refused {permission} on {what}; retry, or check the service's status"
        raise SmokeFailure(f"{code}: {message}".rstrip(": "), hint) from None
    except BotoCoreError as exc:
        raise SmokeFailure(f"{type(exc).__name__}: {exc}",
                           f"{what} could not be reached in time: check the network and --region") from None


def _region_of_arn(value: str | None) -> str | None:
    parts = (value or "").split(":")
    return parts[3] if len(parts) > 4 and parts[0] == "arn" and parts[3] else None


# --- the run ------------------------------------------------------------------------------------
class _SmokeRun:
    """State shared by the steps of one run."""

    def __init__(self, options: SmokeOptions, load_outputs: Callable[[], StackOutputs], target: str) -> None:
        self.options = options
        self.load_outputs = load_outputs
        self.report = SmokeReport(target=target)
        self.nonce = uuid.uuid4().hex[:12]
        self.email = options.email or f"smoke-{self.nonce}@example.com"
        self.outputs: StackOutputs | None = None
        self.token: str | None = None
        self.websocket: Any = None
        self._open = contextlib.ExitStack()  # closes the WebSocket however the run ends
        self.connection_id: str | None = None
        self._lambda: Any = None

    # helpers ---------------------------------------------------------------------------------
    @property
    def out(self) -> StackOutputs:
        if self.outputs is None:  # only read after the outputs step succeeded
            raise RuntimeError("the stack outputs were not loaded yet")
        return self.outputs

    @property
    def function_name(self) -> str:
        return self.options.function_name or self.out.function_name

    def region(self, *arns: str | None) -> str | None:
        if self.options.region:
            return self.options.region
        if self.outputs is not None and self.out.is_local:
            return LOCAL_REGION
        for arn in arns:
            if _region_of_arn(arn):
                return _region_of_arn(arn)
        if self.outputs is not None and ".execute-api." in self.out.management_endpoint:
            return region_of(self.out.management_endpoint)
        return None

    def invoke(self, payload: Mapping[str, Any]) -> Any:
        """Lambda Invoke (RequestResponse) of the function; its decoded result."""
        body = json.dumps(payload).encode()
        response = _aws_call(lambda: self._lambda.invoke(FunctionName=self.function_name, Payload=body),
                             "lambda:InvokeFunction", f"function {self.function_name!r}")
        raw = response["Payload"].read()
        if response.get("FunctionError"):
            try:
                error = json.loads(raw)
                text = f"{error.get('errorType')}: {error.get('errorMessage')}"
            except (ValueError, AttributeError):
                text = raw.decode("utf-8", "replace")[:500]
            raise SmokeFailure(f"the function raised {text}",
                               f"a failure on the function's side; {self.out.logs_hint()}")
        try:
            return json.loads(raw)
        except ValueError:
            raise SmokeFailure(f"the function answered non-JSON {raw[:200]!r}",
                               "FunctionName must be this stack's function (websocket_service.handler.handler)") from None

    def receive(self, accept: Callable[[Any], bool], waiting_for: str) -> Any:
        """The first WebSocket message ``accept`` takes (JSON-decoded) before the step deadline."""
        from websockets.exceptions import ConnectionClosed

        deadline = time.monotonic() + self.options.timeout_s
        seen: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {waiting_for} within {self.options.timeout_s:g} s"
                                   + (f" (other messages: {seen[:3]})" if seen else ""))
            try:
                data = self.websocket.recv(timeout=remaining)
            except ConnectionClosed as exc:
                raise SmokeFailure(f"the connection closed while waiting for {waiting_for}: {exc}",
                                   "the gateway closed it (an integration error, or an idle or duration limit); "
                                   + self.out.logs_hint()) from None
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
            try:
                message = json.loads(text)
            except ValueError:
                message = text
            if accept(message):
                return message
            seen.append(text[:200])

    # steps -----------------------------------------------------------------------------------
    def step_outputs(self) -> str:
        self.outputs = self.load_outputs()
        try:
            validate_management_endpoint(self.out.management_endpoint)
        except ManagementEndpointError as exc:
            raise SmokeFailure(f"ManagementEndpoint output: {exc}", "point the smoke at this stack's outputs") from None
        if urlsplit(self.out.websocket_url).scheme not in ("ws", "wss"):
            raise SmokeFailure(f"WebSocketUrl {self.out.websocket_url!r} is not a ws:// or wss:// URL",
                               "point the smoke at this stack's outputs")
        # The client is made here so that the notify step's time is the invocation's, not boto3's import.
        self._lambda = _aws_client("lambda", region=self.region(self.function_name),
                                   timeout_s=self.options.timeout_s, local_endpoint=self.out.lambda_endpoint)
        return f"stack {self.out.stack_name}: {self.out.websocket_url}, function {self.function_name}"

    def step_token(self) -> str:
        from websocket_service.tokens import mint_token

        if self.options.token_secret:
            key, source = self.options.token_secret, "--token-secret"
        elif self.out.connect_token_secret_arn:
            arn = self.out.connect_token_secret_arn
            client = _aws_client("secretsmanager", region=self.region(arn), timeout_s=self.options.timeout_s)
            response = _aws_call(lambda: client.get_secret_value(SecretId=arn), "secretsmanager:GetSecretValue",
                                 f"the token secret {arn} (and kms:Decrypt if it uses a customer-managed key)")
            key, source = response.get("SecretString") or "", "ConnectTokenSecretArn"
        elif os.environ.get(ENV_CONNECT_TOKEN_SECRET):
            key, source = os.environ[ENV_CONNECT_TOKEN_SECRET], ENV_CONNECT_TOKEN_SECRET
        else:
            raise _Skip("no ConnectTokenSecretArn output, --token-secret or CONNECT_TOKEN_SECRET: "
                        "connecting without a token")
        try:
            self.token = mint_token(key, self.email, self.options.connection_type, ttl_seconds=300)
        except ValueError as exc:
            raise SmokeFailure(f"cannot mint a token with the key from {source}: {exc}",
                               "the token secret must hold the key as its SecretString") from None
        return f"minted for {self.email} with the key from {source}"

    def step_connect(self) -> str:
        from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
        from websockets.sync.client import connect

        query = {"email": self.email, "type": self.options.connection_type}
        if self.token:
            query["token"] = self.token
        url = f"{self.out.websocket_url.rstrip('/')}?{urlencode(query)}"
        try:
            self.websocket = self._open.enter_context(connect(
                url, open_timeout=self.options.timeout_s, close_timeout=self.options.timeout_s,
                user_agent_header="wsctl-smoke",
                compression=None, ping_interval=None))  # API Gateway negotiates no deflate; a short run needs no pings
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise SmokeFailure(f"handshake rejected with HTTP {status}", self._connect_hint(status)) from None
        except (InvalidURI, InvalidHandshake, OSError, TimeoutError) as exc:
            where = ("is `wsctl local` running on that port?" if self.out.is_local
                     else "check the WebSocketUrl output and the network")
            raise SmokeFailure(f"cannot open {self.out.websocket_url}: {type(exc).__name__}: {exc}", where) from None
        return f"{self.email} type {self.options.connection_type}" + (" with a token" if self.token else "")

    def _connect_hint(self, status: int) -> str:
        if status == 400:
            return "the function refused email or type: pass --type with one of the stack's allowedConnectionTypes"
        if status == 401:
            return ("the stack requires a connect token and none (or a malformed one) was sent: "
                    "pass --token-secret KEY or set CONNECT_TOKEN_SECRET (the ConnectTokenSecretArn secret's value)")
        if status == 403:
            return ("the token was refused (wrong key, or this machine's clock is off) or the URL's stage is wrong: "
                    "use the key of the stack's ConnectTokenSecretArn secret (drop --token-secret to read it)")
        if status == 429:
            return ("the e-mail already has maxConnectionsPerEmail open connections: "
                    "drop --email (a fresh one is used per run)")
        return f"the $connect route failed on the function's side; {self.out.logs_hint()}"

    def _route_reply(self, action: str, expected_type: str) -> Any:
        self.websocket.send(json.dumps({"action": action}))
        try:
            reply = self.receive(lambda m: isinstance(m, dict), f"reply to {action}")
        except TimeoutError as exc:
            raise SmokeFailure(str(exc), "the $default route must be two-way (a route response) and the function "
                               "must answer; " + self.out.logs_hint()) from None
        if reply.get("type") == expected_type:
            return reply
        if reply.get("error") == "unknown_action":
            raise SmokeFailure(f"the function does not know the action {action!r}",
                               "the deployed function is older than this wsctl (or not this package): redeploy the stack")
        raise SmokeFailure(f"{action} answered {json.dumps(reply)[:300]}",
                           f"the $default route failed; {self.out.logs_hint()}")

    def step_ping(self) -> str:
        self._route_reply("ping", "pong")
        return '{"type":"pong"}'

    def step_whoami(self) -> str:
        reply = self._route_reply("whoami", "whoami")
        connection_id = reply.get("connectionId")
        if not isinstance(connection_id, str) or not connection_id:
            raise SmokeFailure(f"whoami answered without a connectionId: {reply}",
                               "the function must be this package's handler")
        self.connection_id = connection_id
        return f"connection {connection_id}"

    def step_notify(self) -> str:
        message = {"type": SMOKE_MESSAGE_TYPE, "nonce": self.nonce}
        result = self.invoke({"action": "notify", "email": self.email, "type": self.options.connection_type,
                              "message": message})
        if not isinstance(result, dict) or result.get("ok") is not True:
            raise SmokeFailure(f"notify answered {json.dumps(result)[:300]}",
                               "the function refused the notify; " + self.out.logs_hint())
        counts = f"sent {result.get('sent')}, gone {result.get('gone')}, failed {result.get('failed')}"
        if result.get("sent", 0) >= 1:
            return f"function {self.function_name}: {counts}"
        if result.get("failed"):
            hint = ("posting to @connections failed: the function's management endpoint, its execute-api:ManageConnections "
                    "grant, or (in a VPC) its egress to the internet (NAT); " + self.out.logs_hint())
        else:
            hint = ("the function found no open connection for the smoke e-mail: FunctionName is not the function behind "
                    "the routes, or they do not share a database (database=sqlite-demo keeps one per container)")
        raise SmokeFailure(f"notify sent nothing ({counts})", hint)

    def step_receive(self) -> str:
        try:
            self.receive(lambda m: isinstance(m, dict) and m.get("nonce") == self.nonce, "smoke message")
        except TimeoutError as exc:
            raise SmokeFailure(str(exc), "the function reported the post sent but it never arrived: the function posts "
                               "to another API or stage (check its management endpoint setting)") from None
        return f'{{"type":"{SMOKE_MESSAGE_TYPE}","nonce":"{self.nonce}"}}'

    def step_disconnect(self) -> str:
        self.websocket.close()
        return f"closed with code {self.websocket.close_code}"

    def step_inactive(self) -> str:
        deadline = time.monotonic() + self.options.timeout_s
        delay, polls = _POLL_FIRST_S, 0
        while True:
            status = self.invoke({"action": "connection_status", "connection_id": self.connection_id})
            polls += 1
            if not isinstance(status, dict) or status.get("ok") is not True:
                hint = ("the deployed function is older than this wsctl: redeploy the stack"
                        if isinstance(status, dict) and status.get("error") == "unknown_action" else self.out.logs_hint())
                raise SmokeFailure(f"connection_status answered {json.dumps(status)[:300]}", hint)
            if not status.get("found"):
                raise SmokeFailure(f"the function has no row for connection {self.connection_id}",
                                   "FunctionName is not the function behind the routes, or they do not share a database")
            if not status.get("active"):
                return f"inactive after {polls} check(s), close code {status.get('disconnect_status_code')}"
            if time.monotonic() + delay > deadline:
                raise SmokeFailure(f"connection {self.connection_id} still active "
                                   f"{self.options.timeout_s:g} s after the close",
                                   "$disconnect did not reach the function or failed there (API Gateway delivers it best "
                                   f"effort; the cleanup expires the row later); {self.out.logs_hint()}")
            time.sleep(delay)
            delay = min(delay * 2, _POLL_MAX_S)

    def close(self) -> None:
        """Close the WebSocket if a failed step left it open (closing twice is harmless)."""
        with contextlib.suppress(Exception):  # a failure is already reported; the socket is released anyway
            self._open.close()


class _Skip(Exception):
    """A step that does not apply (e.g. no token secret); the run goes on."""


def _run_step(run: _SmokeRun, name: str, step: Callable[[], str]) -> None:
    started = time.perf_counter()
    result = StepResult(name, "pass")
    try:
        result.detail = step()
    except _Skip as skip:
        result.status, result.detail = "skipped", str(skip)
    except SmokeFailure as failure:
        result.status, result.detail, result.hint = "fail", failure.detail, failure.hint
    except Exception as exc:  # noqa: BLE001 - the report names the step; never a traceback
        result.status, result.detail = "fail", f"unexpected {type(exc).__name__}: {exc}"
        result.hint = "see the detail; the network or the endpoint may have dropped the connection"
    result.ms = round((time.perf_counter() - started) * 1000, 1)
    run.report.steps.append(result)


def run_smoke(load_outputs: Callable[[], StackOutputs], options: SmokeOptions = SmokeOptions(), *,
              target: str) -> SmokeReport:
    """Run every step (see the module docstring) and return the report; never raises for a failure.

    ``load_outputs`` reads the stack's outputs (:func:`outputs_from_file` or
    :func:`outputs_from_stack`); ``target`` names it in the report.
    """
    run = _SmokeRun(options, load_outputs, target)
    started = time.perf_counter()
    try:
        for name in STEPS:
            if run.report.failed is not None:
                run.report.steps.append(StepResult(name, "skipped"))
                continue
            _run_step(run, name, getattr(run, f"step_{name}"))
    finally:
        run.close()
    run.report.total_ms = (time.perf_counter() - started) * 1000
    return run.report
