"""``wsctl``: run the local gateway and operate the notification channel, locally or in AWS.

Subcommands::

    wsctl local        run the local gateway (SQLite by default; --database-url for PostgreSQL)
    wsctl notify       push a message to every open connection of an email and type
    wsctl connections  list connections (filter by --email, --active / --inactive)
    wsctl cleanup      expire idle connections and purge old rows (--dry-run counts only)
    wsctl migrate      apply pending database migrations
    wsctl token        mint a signed connect token
    wsctl cost         monthly cost estimate
    wsctl smoke        prove a deployed stack (or wsctl local) end to end from its outputs
    wsctl preflight    check the AWS account against the stack's settings before a deploy

The ops subcommands call the Lambda package directly (``websocket_service``): the store named by
``--database-url`` / ``DATABASE_URL`` (or ``DATABASE_SECRET_ARN``), and for ``notify`` the
management endpoint ``--endpoint`` / ``AWS_WEBSOCKET_API_GATEWAY_ENDPOINT`` -- the local gateway
by default, ``https://{api}.execute-api.{region}.amazonaws.com/{stage}`` with AWS credentials for
a deployed stack. Output is human-readable; ``--json`` prints one JSON document on stdout and
nothing on stderr but real warnings. Errors print one line on stderr and exit with status 1 (2 for
usage errors, such as a number out of range); Ctrl+C exits 130 and a closed pipe (``wsctl ... |
head``) exits quietly with 141, as a shell tool killed by SIGINT or SIGPIPE does.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import io
import json
import logging
import os
import shlex
import shutil
import signal
import sys
from datetime import datetime
from typing import Any, Callable, Sequence, TypeVar
from importlib import metadata
from urllib.parse import quote, urlsplit

from websocket_service.config import (
    DEFAULT_MANAGEMENT_API_METHODS,
    ENV_ALLOWED_CONNECTION_TYPES,
    ENV_MANAGEMENT_API_METHODS,
    ENV_CONNECT_TOKEN_SECRET,
    ENV_CONNECT_TOKEN_SECRET_ARN,
    ENV_DATABASE_URL,
    ENV_MANAGEMENT_ENDPOINT,
    ENV_REPLAY_WINDOW_MINUTES,
    ENV_REPLAY_WITHOUT_TOKENS,
    SHARED_DEFAULTS,
    ConfigError,
    Settings,
    parse_management_api_methods,
)
from websocket_service.messenger import (
    ManagementEndpointError,
    PayloadTooLargeError,
    validate_management_endpoint,
)
from websocket_service.secrets import SecretFetchError
from websocket_service.store import SQLITE_PREFIX
from websocket_service.store.base import Connection, StoreError
from websocket_service.store.sql import MIGRATE_ACTION_HINT
from websocket_service.tokens import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS
from websocket_service.validation import ValidationError, normalize_email, validate_connection_type

from . import cost, preflight, smoke
from .argtypes import float_range, int_range
from local_gateway.events import DEFAULT_ROUTE
from local_gateway.server import (
    DEFAULT_HANDLER,
    DEFAULT_TWO_WAY_ROUTES,
    DUMMY_AWS_ENV,
    GatewayError,
    GatewayLimits,
    LocalGateway,
    load_handler,
    tune_garbage_collector,
)

DEFAULT_PORT = 8080
DEFAULT_STAGE = "prod"
DEFAULT_LOCAL_ENDPOINT = f"http://127.0.0.1:{DEFAULT_PORT}/{DEFAULT_STAGE}"
DEFAULT_MIGRATE_TIMEOUT_S = 600
"""``wsctl migrate --timeout``: no Lambda time limit here, so wait long for locks and index builds."""
MAX_MIGRATE_TIMEOUT_S = 86_400
"""Upper bound of ``--timeout`` (PostgreSQL's timeouts are int32 milliseconds, about 24 days)."""
EXAMPLE_EMAIL = "you@example.com"
EXIT_BROKEN_PIPE = 141
"""Exit status when stdout's reader went away (``wsctl ... | head``): 128 + SIGPIPE, as a shell
tool killed by the signal reports it (``set -o pipefail`` sees it, a plain pipeline does not)."""
DISTRIBUTION = "websocket-notifications"
"""The installed distribution whose version ``wsctl --version`` prints."""
T = TypeVar("T")

EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    GatewayError,
    ManagementEndpointError,
    PayloadTooLargeError,
    SecretFetchError,
    StoreError,
    ValidationError,
    cost.CostInputError,
)


class CommandError(Exception):
    """A subcommand cannot do what was asked; the message says what to change."""


# --- shared helpers -------------------------------------------------------------------------
def _settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with ``--database-url`` / ``--endpoint`` applied on top."""
    settings = Settings.from_env()
    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides.update(database_url=args.database_url, database_secret_arn=None)
    if settings.database_url or overrides.get("database_url"):
        check_sqlite_folder(overrides.get("database_url") or settings.database_url or "")
    if hasattr(args, "endpoint"):
        overrides["management_endpoint"] = args.endpoint or settings.management_endpoint or DEFAULT_LOCAL_ENDPOINT
    return dataclasses.replace(settings, **overrides)


def _with_service(settings: Settings, operation: Callable[[Any], T], **open_options: Any) -> T:
    """Run ``operation(service)`` on a freshly opened service (``open_service(settings,
    **open_options)``), then close it.

    The service logs JSON lines and EMF metrics on stdout (CloudWatch's convention). They are
    captured, so stdout carries only the command's output (one JSON document with ``--json``):
    EMF and INFO records are dropped and each WARNING or ERROR log becomes one human line on stderr.
    """
    from websocket_service.service import open_service

    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            service = open_service(settings, **open_options)
            try:
                return operation(service)
            finally:
                service.close()
    finally:
        for line in _human_log_lines(captured.getvalue()):
            print(line, file=sys.stderr)


def _human_log_lines(output: str) -> list[str]:
    """The service's WARNING/ERROR JSON log lines as ``level: message (key=value, ...)``; EMF and
    INFO records dropped, non-JSON lines kept as they are."""
    lines = []
    for raw in output.splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            lines.append(raw)
            continue
        if not isinstance(record, dict) or "_aws" in record or record.get("level") not in ("WARNING", "ERROR"):
            continue
        details = ", ".join(f"{k}={v}" for k, v in record.items() if k not in ("level", "message", "timestamp"))
        lines.append(f"{record['level'].lower()}: {record.get('message', '')}" + (f" ({details})" if details else ""))
    return lines


def _masked_url(url: str) -> str:
    """A database URL with its password replaced by ``***``: in the user part
    (``postgresql://user:***@host/db``) and in a ``password=`` query parameter."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL we can take apart: show its scheme only
        return url.split(":", 1)[0] + ":***"
    masked = parts
    if password:
        user_info, _, host = parts.netloc.rpartition("@")
        masked = masked._replace(netloc=f"{user_info.split(':', 1)[0]}:***@{host}")
    if parts.query:
        masked = masked._replace(query="&".join(
            f"{name}=***" if name.lower() in ("password", "sslpassword") else f"{name}{sep}{value}"
            for name, sep, value in (item.partition("=") for item in parts.query.split("&"))
        ))
    return url if masked == parts else masked.geturl()  # geturl() would drop sqlite:///'s empty host


def check_sqlite_folder(database_url: str) -> None:
    """Refuse a ``sqlite:///`` URL whose folder does not exist (the store would create it: a typo
    in the path would silently start an empty database somewhere else). ``:memory:`` and other
    schemes pass; the deployed function's ``/tmp`` demo never comes through here."""
    url = database_url.strip()
    if not url.lower().startswith(SQLITE_PREFIX):
        return
    path = url[len(SQLITE_PREFIX):]
    if not path or path == ":memory:" or "?" in path:
        return  # open_store names what is wrong with these
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CommandError(
            f"the folder of the SQLite database does not exist: {folder} (from --database-url / {ENV_DATABASE_URL}); "
            "create it first, or fix the path (sqlite:///relative/path.db, sqlite:////absolute/path.db)"
        )


def _hint_database_url(database_url: str) -> str:
    """``database_url`` as a printed command shows it: shell-quoted, its password masked (the
    banner then says to put it back). The one place where a hint's URL is rendered."""
    return shlex.quote(_masked_url(database_url))


def _is_local_endpoint(endpoint: str) -> bool:
    """True for a local gateway: the messenger's validation allows ``http://`` on loopback hosts only."""
    return urlsplit(validate_management_endpoint(endpoint)).scheme == "http"


def _email_and_type(args: argparse.Namespace, settings: Settings) -> tuple[str, str]:
    """``--email`` normalised and ``--type`` checked against ``ALLOWED_CONNECTION_TYPES``."""
    email = normalize_email(args.email)
    try:
        connection_type = validate_connection_type(args.type, settings.allowed_connection_types)
    except ValidationError as exc:
        raise CommandError(f"--type {args.type!r}: {exc} (set {ENV_ALLOWED_CONNECTION_TYPES} to change)") from None
    return email, connection_type


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str))


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


# --- local ----------------------------------------------------------------------------------
def cmd_local(args: argparse.Namespace) -> int:
    """Run the gateway until interrupted."""
    database_url = args.database_url or os.environ.get(ENV_DATABASE_URL) or Settings().database_url
    check_sqlite_folder(database_url)
    os.environ.update(replay_environment(args))  # the in-process handler reads its settings from there
    gateway = LocalGateway(
        host=args.host,
        port=args.port,
        stage=args.stage,
        api_id=args.api_id,
        handler=load_handler(args.handler),
        route_keys=args.route,
        two_way_routes=args.two_way_route or DEFAULT_TWO_WAY_ROUTES,
        limits=limits_from_args(args),
        database_url=database_url,
        management_latency_s=args.management_latency_ms / 1000,
        management_methods=args.management_methods or _env_management_methods(),
        allowed_origins=args.allowed_origins,
    )
    from websocket_service.store import open_store

    store = open_store(database_url)
    try:
        applied = store.migrate()  # a fresh local database is ready for $connect at once
    finally:
        store.close()
    logging.basicConfig(level=getattr(logging, args.log_level), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(_serve_local(gateway, database_url, applied, args.outputs_file))
    return 0


def replay_environment(args: argparse.Namespace) -> dict[str, str]:
    """The handler settings ``wsctl local --replay-window/--replay-without-tokens`` ask for (none
    given: nothing, the environment's own values apply)."""
    environment = {}
    if args.replay_window is not None:
        environment[ENV_REPLAY_WINDOW_MINUTES] = str(args.replay_window)
    if args.replay_without_tokens:
        environment[ENV_REPLAY_WITHOUT_TOKENS] = "true"
    return environment


def _env_management_methods() -> tuple[str, ...]:
    raw = os.environ.get(ENV_MANAGEMENT_API_METHODS, "").strip()
    return parse_management_api_methods(raw) if raw else DEFAULT_MANAGEMENT_API_METHODS


def _methods_option(text: str) -> tuple[str, ...]:
    try:
        return parse_management_api_methods(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace(f"{ENV_MANAGEMENT_API_METHODS}=", "")) from None


_LIMIT_OPTIONS = {  # GatewayLimits field -> `wsctl local` option
    "idle_timeout_s": "--idle-timeout",
    "max_duration_s": "--max-duration",
    "max_frame_bytes": "--max-frame-bytes",
    "max_message_bytes": "--max-message-bytes",
    "integration_timeout_s": "--integration-timeout",
}


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def limits_from_args(args: argparse.Namespace) -> GatewayLimits:
    """The :class:`GatewayLimits` a parsed ``wsctl local`` command line asks for."""
    return GatewayLimits(**{name: getattr(args, _dest(option)) for name, option in _LIMIT_OPTIONS.items()})


def _limit_options(parser: argparse.ArgumentParser) -> None:
    """One option per :class:`GatewayLimits` field, defaulting to (and typed like) the field."""
    defaults = GatewayLimits()
    for name, option in _LIMIT_OPTIONS.items():
        default = getattr(defaults, name)
        integer = isinstance(default, int)
        parser.add_argument(
            option,
            type=int_range(1) if integer else float_range(0, exclusive_minimum=True),
            default=default,
            metavar="BYTES" if integer else "SECONDS",
            help="default %(default)s",
        )


async def _serve_local(gateway: LocalGateway, database_url: str, applied: list[int], outputs_file: str | None) -> None:
    """Serve until SIGTERM or SIGINT (Ctrl+C); then close every client with 1001 and run its
    ``$disconnect`` before returning (bounded by ``gateway.stop_timeout_s``)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await gateway.start()
    tune_garbage_collector()  # this process serves the gateway only
    if outputs_file:
        write_outputs_file(gateway, outputs_file)
    print(_banner(gateway, database_url, applied, outputs_file), flush=True)
    try:
        await stop.wait()
    finally:
        count = len(gateway.open_connection_ids)
        print(f"\nstopping: closing {count} connection{'' if count == 1 else 's'} (1001) and running their $disconnect",
              file=sys.stderr, flush=True)
        await gateway.stop()
        print("stopped", file=sys.stderr, flush=True)


LOCAL_STACK_NAME = "LocalGateway"
"""The stack name ``wsctl local --outputs-file`` writes its outputs under."""


def local_outputs(gateway: LocalGateway) -> dict[str, dict[str, str]]:
    """The gateway's addresses under the stack's output keys, shaped like ``cdk deploy --outputs-file``."""
    outputs = {
        "WebSocketUrl": gateway.url,
        "ManagementEndpoint": gateway.management_endpoint,
        "ApiId": gateway.api_id,
        "StageName": gateway.stage,
        "FunctionName": gateway.lambda_api.function_name,
    }
    if os.environ.get(ENV_CONNECT_TOKEN_SECRET_ARN):  # the handler reads its token key from this secret
        outputs["ConnectTokenSecretArn"] = os.environ[ENV_CONNECT_TOKEN_SECRET_ARN]
    return {LOCAL_STACK_NAME: outputs}


def write_outputs_file(gateway: LocalGateway, path: str) -> None:
    """Write :func:`local_outputs` to ``path`` (atomically: readers never see half a file)."""
    target = os.path.abspath(path)
    temporary = f"{target}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(local_outputs(gateway), stream, indent=2)
            stream.write("\n")
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise CommandError(f"cannot write --outputs-file {path}: {exc.strerror or exc}") from None


def wsctl_command() -> str:
    """How the shell that started this wsctl runs it again: ``wsctl`` when PATH finds this very
    program, else the path it was started by (``.venv/bin/wsctl`` without an activated venv),
    or ``python -m wsctl`` with this interpreter."""
    program = sys.argv[0] if sys.argv else ""
    if os.path.basename(program) == "__main__.py" or not os.path.isfile(program):
        return f"{shlex.quote(sys.executable)} -m wsctl"
    found = shutil.which("wsctl")
    if found is not None and os.path.samefile(found, program):
        return "wsctl"
    return shlex.quote(program)


def _banner(gateway: LocalGateway, database_url: str, applied: list[int], outputs_file: str | None = None) -> str:
    query = f"email={quote(EXAMPLE_EMAIL)}&type=email-verification"
    wsctl = wsctl_command()
    token_hint = ""  # nosec B105 # an empty URL fragment, not a password
    page_token, token_note = "", ""
    if os.environ.get(ENV_CONNECT_TOKEN_SECRET) or os.environ.get(ENV_CONNECT_TOKEN_SECRET_ARN):
        token_hint = f"&token=$({wsctl} token --email {EXAMPLE_EMAIL} --type email-verification)"
        page_token, token_note = _page_token(wsctl)
    store_option = "" if database_url == Settings().database_url else f" --database-url {_hint_database_url(database_url)}"
    migrations = f"applied migrations {applied}" if applied else "schema up to date"
    return "\n".join(
        [
            f"Local WebSocket gateway, stage '{gateway.stage}', store {_masked_url(database_url)} ({migrations})",
            f"  WebSocket URL:        {gateway.url}",
            f"  Management endpoint:  {gateway.management_endpoint}",
            f"  Verification page:    {gateway.page_url}?email={quote(EXAMPLE_EMAIL)}{page_token}{token_note}",
            f"  Console:              {gateway.console_url}",
            f"  @connections methods: {', '.join(gateway.management.methods)} (as the deployed role is granted)",
            f"  Lambda Invoke API:    {urlsplit(gateway.management_endpoint)._replace(path='').geturl()}"
            f" (function {gateway.lambda_api.function_name})",
            *([f"  Outputs file:         {outputs_file} ({wsctl} smoke --outputs {outputs_file})"] if outputs_file else []),
            "Try it:",
            f"  {sys.executable} -m websockets \"{gateway.url}?{query}{token_hint}\"",
            f"  {wsctl} notify --email {EXAMPLE_EMAIL} --endpoint {gateway.management_endpoint}{store_option}",
            f"  {wsctl} connections --active{store_option}",
            *(["  (the hints show the database password as ***: put yours back)"] if "***" in store_option else []),
            "Press Ctrl+C to stop.",
        ]
    )


def _page_token(wsctl: str) -> tuple[str, str]:
    """``&token=...`` minted for the banner's verification page (the longest TTL the function
    accepts) and a note saying how long it lasts (and that ``wsctl`` command mints another); a
    note alone when the secret cannot be read."""
    from websocket_service.tokens import mint_token, read_token_secret

    try:
        secret = read_token_secret(Settings.from_env())
        token = mint_token(secret or "", EXAMPLE_EMAIL, "email-verification", ttl_seconds=MAX_TTL_SECONDS)
    except (ConfigError, SecretFetchError, ValueError) as exc:
        return "", f" (needs &token=: cannot mint one here: {exc})"
    return f"&token={quote(token)}", f"  (token valid {MAX_TTL_SECONDS // 60} min; {wsctl} token mints another)"


# --- notify ---------------------------------------------------------------------------------
def _message(args: argparse.Namespace, email: str, connection_type: str) -> Any:
    from websocket_service.service import default_notify_message

    if args.message is None:
        try:
            return default_notify_message(email, connection_type)
        except ValidationError as exc:
            raise CommandError(f"--message is required: {exc}") from None
    try:
        return json.loads(args.message)
    except ValueError:
        return args.message  # plain text is sent as is (_message_option refused broken JSON)


def _message_option(text: str) -> str:
    """``--message``: text, or JSON when it starts with ``{`` or ``[`` (then it must parse: a typo
    in a JSON message is refused, not sent as text)."""
    if text.lstrip().startswith(("{", "[")):
        try:
            json.loads(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"starts like JSON but is not valid JSON: {exc}") from None
    return text


def cmd_notify(args: argparse.Namespace) -> int:
    """Push a message to every open connection of an email and type."""
    settings = _settings(args)
    email, connection_type = _email_and_type(args, settings)
    message = _message(args, email, connection_type)
    if _is_local_endpoint(settings.management_endpoint or ""):
        for name, value in DUMMY_AWS_ENV.items():  # the local gateway accepts any credentials
            os.environ.setdefault(name, value)
    report = _with_service(settings, lambda service: service.notify(email, connection_type, message))
    if args.json:
        _print_json({"ok": report.failed == 0, **report.to_dict(), "endpoint": settings.management_endpoint})
    elif report.sent + report.gone + report.failed == 0:
        print(f"no open {connection_type} connection for {email}; nothing sent")
    else:
        print(_notify_line(report, email, connection_type, settings.management_endpoint or ""))
    if report.failed:
        print(f"wsctl: {report.failed} deliveries failed; is {settings.management_endpoint} the right endpoint?", file=sys.stderr)
        return 1
    if args.require_delivery and report.sent == 0:
        print(f"wsctl notify: nothing delivered to {email} ({connection_type}) and --require-delivery was given",
              file=sys.stderr)
        return 1
    return 0


def _notify_line(report: Any, email: str, connection_type: str, endpoint: str) -> str:
    """One human line for a notify: what was delivered, to whom, through which endpoint."""
    parts = [f"delivered to {report.sent} connection{'' if report.sent == 1 else 's'}"]
    if report.gone:
        parts.append(f"{report.gone} gone (marked inactive)")
    if report.failed:
        parts.append(f"{report.failed} failed")
    return f"{email} ({connection_type}): {', '.join(parts)} via {endpoint}"


# --- connections ----------------------------------------------------------------------------
def _connection_row(c: Connection) -> dict[str, Any]:
    return {
        "connection_id": c.connection_id,
        "email": c.user_email,
        "type": c.connection_type,
        "active": c.is_active,
        "connected_at": c.connected_at.isoformat(),
        "last_activity_at": c.last_activity_at.isoformat(),
        "disconnected_at": c.disconnected_at.isoformat() if c.disconnected_at else None,
        "disconnect_status_code": c.disconnect_status_code,
        "disconnect_reason": c.disconnect_reason,
        "source_ip": c.source_ip,
    }


def cmd_connections(args: argparse.Namespace) -> int:
    """List connections, newest first."""
    email = normalize_email(args.email) if args.email else None
    rows = _with_service(
        _settings(args), lambda service: service.store.list_connections(user_email=email, active=args.active, limit=args.limit)
    )
    if args.json:
        _print_json([_connection_row(c) for c in rows])
        return 0
    if not rows:
        print("no connections")
        return 0
    print(f"{'CONNECTION ID':18} {'STATE':8} {'TYPE':20} {'EMAIL':32} {'CONNECTED':25} {'LAST ACTIVE':25} CLOSE")
    for c in rows:
        state = "active" if c.is_active else "closed"
        close = "" if c.is_active else f"{c.disconnect_status_code or '-'} {c.disconnect_reason or ''}".strip()
        print(
            f"{c.connection_id:18} {state:8} {c.connection_type:20} {c.user_email:32} "
            f"{_iso(c.connected_at):25} {_iso(c.last_activity_at):25} {close}"
        )
    return 0


# --- cleanup / migrate ----------------------------------------------------------------------
def cmd_cleanup(args: argparse.Namespace) -> int:
    """Expire idle connections and purge old inactive rows."""
    from websocket_service.cleanup import run_cleanup

    report = _with_service(_settings(args), lambda service: run_cleanup(service.store, service.settings, dry_run=args.dry_run))
    if args.json:
        _print_json(dataclasses.asdict(report))
    else:
        verb = ("would expire", "would purge") if report.dry_run else ("expired", "purged")
        more = "" if report.complete else "; more left for the next run"
        print(f"{verb[0]} {report.expired} idle connection(s), {verb[1]} {report.purged} old row(s) "
              f"and {report.purged_messages} expired replay message(s){more}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations (each statement may wait up to --timeout seconds on PostgreSQL)."""
    applied = _with_service(_settings(args), lambda service: service.store.migrate(),
                            migration_timeout_ms=args.timeout * 1000)
    if args.json:
        _print_json({"applied": applied})
    else:
        print(f"applied migrations {applied}" if applied else "schema already up to date")
    return 0


# --- token ----------------------------------------------------------------------------------
def _token_secret(args: argparse.Namespace) -> str:
    """The secret to mint with: ``--secret``, else the service's own reader (so a blank secret is
    refused here exactly as the function refuses it at cold start)."""
    from dataclasses import replace

    from websocket_service.tokens import read_token_secret

    settings = Settings.from_env()
    if args.secret is not None:
        settings = replace(settings, connect_token_secret=args.secret, connect_token_secret_arn=None)
    secret = read_token_secret(settings)
    if secret is None:
        raise CommandError(f"no token secret: pass --secret or set {ENV_CONNECT_TOKEN_SECRET} (or {ENV_CONNECT_TOKEN_SECRET_ARN})")
    return secret


def cmd_token(args: argparse.Namespace) -> int:
    """Mint a connect token."""
    from websocket_service.tokens import mint_token

    email, connection_type = _email_and_type(args, Settings.from_env())
    try:
        token = mint_token(_token_secret(args), email, connection_type, ttl_seconds=args.ttl)
    except ValueError as exc:  # mint_token refuses the TTL or secret
        raise CommandError(str(exc)) from None
    if args.json:
        _print_json({"token": token, "email": email, "type": connection_type, "ttl_seconds": args.ttl})
    else:
        print(token)
    return 0


# --- cost -----------------------------------------------------------------------------------
def cmd_cost(args: argparse.Namespace) -> int:
    """Print the cost estimate."""
    inputs = cost.CostInputs(
        users=args.users,
        minutes_per_connection=args.minutes,
        messages_per_user=args.messages,
        message_size_bytes=args.message_size,
        connections_per_user=args.connections_per_user,
        lambda_memory_mb=args.memory,
        lambda_duration_ms=args.duration_ms,
        days_per_month=args.days,
        database_awake_hours=args.database_awake_hours,
        log_bytes_per_invocation=args.log_bytes,
    )
    result = cost.estimate(inputs)
    if args.json:
        _print_json(result.to_dict())
    else:
        print(cost.render(result))
    return 0


# --- smoke ----------------------------------------------------------------------------------
DEFAULT_OUTPUTS_FILE = "cdk-outputs.json"


def cmd_smoke(args: argparse.Namespace) -> int:
    """Prove a deployed stack end to end: connect, ping, notify through the function, receive,
    disconnect, check the row went inactive. Exit 0 on pass, 1 on failure (the report names the
    failing step and a hint)."""
    options = smoke.SmokeOptions(email=args.email, connection_type=args.type, token_secret=args.token_secret,
                                 region=args.region, function_name=args.function, timeout_s=args.timeout)
    if args.outputs is None and args.stack:
        target = f"stack {args.stack} (CloudFormation)"
        report = smoke.run_smoke(
            lambda: smoke.outputs_from_stack(args.stack, region=args.region, timeout_s=args.timeout), options, target=target)
    else:
        path = args.outputs or DEFAULT_OUTPUTS_FILE
        report = smoke.run_smoke(lambda: smoke.outputs_from_file(path, stack_name=args.stack), options, target=path)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.render())
    return 0 if report.ok else 1


# --- parser ---------------------------------------------------------------------------------
def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help=f"postgresql://... or sqlite:///path (default: ${ENV_DATABASE_URL}, else sqlite:///websocket_connections.db)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def _origins_option(text: str) -> tuple[str, ...]:
    from local_gateway.guard import normalize_origin

    try:
        return tuple(normalize_origin(item) for item in text.split(",") if item.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The ``wsctl`` argument parser."""
    parser = argparse.ArgumentParser(prog="wsctl", description="Local WebSocket gateway and operations tool.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    local = sub.add_parser("local", help="run the local gateway", description=cmd_local.__doc__)
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--port", type=int_range(0, 65535), default=DEFAULT_PORT, help="0 picks a free port (default %(default)s)")
    local.add_argument("--stage", default=DEFAULT_STAGE)
    local.add_argument("--api-id", default="local", help="requestContext.apiId (default %(default)s)")
    local.add_argument("--database-url", help="default: $DATABASE_URL, else sqlite:///websocket_connections.db")
    local.add_argument("--handler", default=DEFAULT_HANDLER, help="module.function to invoke")
    local.add_argument("--route", action="append", default=[], metavar="KEY",
                       help="extra route key selected by $request.body.action (repeatable)")
    local.add_argument("--two-way-route", action="append", metavar="KEY",
                       help=f"route whose handler body is sent back to the sender (repeatable; default {DEFAULT_ROUTE}, "
                            f"as in the stack; giving any replaces the default, so add {DEFAULT_ROUTE} to keep it)")
    _limit_options(local)
    local.add_argument("--management-latency-ms", type=float_range(0, 10_000), default=0, metavar="MS",
                       help="delay each @connections answer to emulate the round trip to AWS (default 0)")
    local.add_argument("--management-methods", type=_methods_option, metavar="POST,GET",
                       help=f"@connections methods to serve, as the deployed function's role is granted them "
                            f"(default: ${ENV_MANAGEMENT_API_METHODS}, else {','.join(DEFAULT_MANAGEMENT_API_METHODS)}); "
                            f"others answer 403 like AWS")
    local.add_argument("--allowed-origins", type=_origins_option, default=(), metavar="ORIGIN,...",
                       help="web origins (http://localhost:3000) whose pages may open WebSocket connections; "
                            "default: only the gateway's own pages (clients without Origin, such as SDKs, always may)")
    window = SHARED_DEFAULTS[ENV_REPLAY_WINDOW_MINUTES]
    local.add_argument("--replay-window", type=int_range(window["minimum"], window["maximum"]), metavar="MINUTES",
                       help=f"how long notify keeps messages for replay (default: ${ENV_REPLAY_WINDOW_MINUTES}, "
                            f"else {window['default']}; 0 turns replay off)")
    local.add_argument("--replay-without-tokens", action="store_true",
                       help=f"allow replay on connections no token verified (sets {ENV_REPLAY_WITHOUT_TOKENS}=true; "
                            "for tokens-off local runs: anyone could read any email's recent messages)")
    local.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    local.add_argument("--outputs-file", metavar="FILE",
                       help="write the gateway's URLs as cdk-outputs.json-shaped JSON (for wsctl smoke --outputs FILE)")
    local.set_defaults(func=cmd_local)

    notify = sub.add_parser("notify", help="push a message to an email's connections", description=cmd_notify.__doc__)
    notify.add_argument("--email", required=True)
    notify.add_argument("--type", default="email-verification", help="connection type (default %(default)s)")
    notify.add_argument("--message", type=_message_option,
                        help='JSON or text (text starting with { or [ must be valid JSON); '
                             'default for email-verification: {"type":"email-verified",...}')
    notify.add_argument("--require-delivery", action="store_true",
                        help="exit 1 when no connection received the message (default: nothing to send is exit 0)")
    notify.add_argument("--endpoint", help=f"management endpoint (default: ${ENV_MANAGEMENT_ENDPOINT}, else {DEFAULT_LOCAL_ENDPOINT})")
    _store_options(notify)
    notify.set_defaults(func=cmd_notify)

    conns = sub.add_parser("connections", help="list connections", description=cmd_connections.__doc__)
    conns.add_argument("--email")
    state = conns.add_mutually_exclusive_group()
    state.add_argument("--active", dest="active", action="store_const", const=True, default=None)
    state.add_argument("--inactive", dest="active", action="store_const", const=False)
    conns.add_argument("--limit", type=int_range(1), default=100, help="at most this many rows (default %(default)s)")
    _store_options(conns)
    conns.set_defaults(func=cmd_connections)

    cleanup = sub.add_parser("cleanup", help="expire idle connections, purge old rows", description=cmd_cleanup.__doc__)
    cleanup.add_argument("--dry-run", action="store_true", help="only count")
    _store_options(cleanup)
    cleanup.set_defaults(func=cmd_cleanup)

    migrate = sub.add_parser("migrate", help="apply database migrations", description=cmd_migrate.__doc__)
    migrate.add_argument("--timeout", type=int_range(1, MAX_MIGRATE_TIMEOUT_S), default=DEFAULT_MIGRATE_TIMEOUT_S, metavar="SECONDS",
                         help="PostgreSQL: longest wait per migration statement, lock waits included "
                              "(default %(default)s)")
    _store_options(migrate)
    migrate.set_defaults(func=cmd_migrate)

    token = sub.add_parser("token", help="mint a signed connect token", description=cmd_token.__doc__)
    token.add_argument("--email", required=True)
    token.add_argument("--type", default="email-verification")
    token.add_argument("--ttl", type=int_range(1, MAX_TTL_SECONDS), default=DEFAULT_TTL_SECONDS,
                       help=f"seconds, 1..{MAX_TTL_SECONDS} (default %(default)s)")
    token.add_argument("--secret", help=f"default: ${ENV_CONNECT_TOKEN_SECRET} or ${ENV_CONNECT_TOKEN_SECRET_ARN}")
    token.add_argument("--json", action="store_true")
    token.set_defaults(func=cmd_token)

    estimate = sub.add_parser("cost", help="monthly cost estimate", description=cost.__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    amount = float_range(0)
    estimate.add_argument("--users", type=int_range(0), required=True, help="users per day")
    estimate.add_argument("--minutes", type=amount, required=True, help="average minutes per connection")
    estimate.add_argument("--messages", type=amount, required=True, help="messages per user per day")
    estimate.add_argument("--message-size", type=int_range(1, cost.MAX_MESSAGE_SIZE_BYTES),
                          default=cost.DEFAULT_MESSAGE_SIZE_BYTES, metavar="BYTES")
    estimate.add_argument("--connections-per-user", type=amount, default=1.0)
    estimate.add_argument("--memory", type=int_range(cost.MIN_MEMORY_MB, cost.MAX_MEMORY_MB),
                          default=cost.DEFAULT_MEMORY_MB, metavar="MB")
    estimate.add_argument("--duration-ms", type=amount, default=cost.DEFAULT_LAMBDA_DURATION_MS)
    estimate.add_argument("--days", type=int_range(1, cost.MAX_DAYS_PER_MONTH), default=30,
                          help="days per month (default %(default)s)")
    estimate.add_argument("--database-awake-hours", type=float_range(0, 24), metavar="HOURS",
                          help="add the stack's own Aurora database and NAT (database=create), awake this many hours "
                          f"a day ({cost.IDLE_DATABASE_AWAKE_HOURS:g} when idle: the cleanup schedule wakes it)")
    estimate.add_argument("--log-bytes", type=amount, default=cost.DEFAULT_LOG_BYTES_PER_INVOCATION, metavar="BYTES",
                          help="CloudWatch Logs bytes per invocation (default %(default)s)")
    estimate.add_argument("--json", action="store_true")
    estimate.set_defaults(func=cmd_cost)

    check = sub.add_parser("smoke", help="prove a deployed stack end to end", description=cmd_smoke.__doc__)
    check.add_argument("--outputs", metavar="FILE",
                       help=f"cdk deploy --outputs-file JSON (default {DEFAULT_OUTPUTS_FILE} unless --stack is given alone)")
    check.add_argument("--stack", metavar="NAME",
                       help="the stack in the outputs file; alone: read its outputs with CloudFormation DescribeStacks")
    check.add_argument("--function", metavar="NAME", help="function to invoke (default: the FunctionName output)")
    check.add_argument("--region", help="AWS region (default: from the function ARN or the management endpoint)")
    check.add_argument("--token-secret", metavar="KEY",
                       help=f"connect-token key (default: the ConnectTokenSecretArn output's secret, else ${ENV_CONNECT_TOKEN_SECRET})")
    check.add_argument("--email", help="e-mail to connect as (default: a fresh smoke-NONCE@example.com)")
    check.add_argument("--type", default=smoke.DEFAULT_CONNECTION_TYPE, help="connection type (default %(default)s)")
    check.add_argument("--timeout", type=float_range(0, 300, exclusive_minimum=True), default=smoke.DEFAULT_TIMEOUT_S,
                       metavar="SECONDS", help="deadline of each step (default %(default)s)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(func=cmd_smoke)

    preflight.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wsctl`` console script; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "ignores_cdk_options", False):  # only preflight takes `make deploy`'s CDK_ARGS whole
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    command: Callable[[argparse.Namespace], int] = args.func
    try:
        status = command(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit as "Exception ignored"
        return status
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_BROKEN_PIPE
    except (CommandError, *EXPECTED_ERRORS) as exc:
        print(f"wsctl {args.command}: error: {_cli_hints(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: one line, never a traceback
        print(f"wsctl {args.command}: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl+C during any command: the shell's convention, no traceback
        print(f"wsctl {args.command}: interrupted", file=sys.stderr)
        return 130


def _drop_stdout() -> None:
    """Point stdout at /dev/null: the reader is gone, and the interpreter's final flush would
    otherwise print ``Exception ignored ... BrokenPipeError`` (Python's documented recipe)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _cli_hints(message: str) -> str:
    """The service's error text with its hints said the CLI way (``wsctl migrate``, not the
    function's ``{"action": "migrate"}`` invoke)."""
    return message.replace(MIGRATE_ACTION_HINT, "`wsctl migrate` (same --database-url)")


if __name__ == "__main__":
    sys.exit(main())
