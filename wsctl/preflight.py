"""``wsctl preflight``: check, in seconds and before CloudFormation starts, what the account decides.

It reads the SAME settings as synth (``cdk.json``'s ``"context"``, then ``cdk.context.json``, then
each ``-c key=value``, through :meth:`cdk_app.settings.StackSettings.from_mapping`) and asks the
account (the credentials, profile and region boto3 finds, as the CDK CLI does) about each thing
that has failed deploys late:

=====================  ==========================================================================
check                  what must hold
=====================  ==========================================================================
credentials            STS GetCallerIdentity answers (account, caller)
region                 a region is configured and the stack supports its partition
bootstrap              ``/cdk-bootstrap/<qualifier>/version`` >= :data:`MIN_BOOTSTRAP_VERSION`
lambda-concurrency     the reserved concurrency fits the quota with Lambda's unreserved minimum
                       left over (FAIL prints the ``-c`` values that fit, and the quota to ask for)
apigateway-logs-role   the account has API Gateway's CloudWatch Logs role, or the stack creates it
aurora                 (database=create) the engine version is orderable as ``db.serverless`` in
                       the region, and supports scale to zero when databaseMinCapacity is 0
nat-instance           (database=create, vpcEgress=nat-instance) the instance type is offered in
                       the zone the NAT instance goes to
certificate            (domainName) ISSUED, in the stack's region, covering domainName
subnet-egress          (vpcId) every subnet routes 0.0.0.0/0 to a NAT (``@connections`` is public)
execute-api-endpoint   (vpcId) no execute-api interface endpoint with private DNS in the VPC
database-ingress       (vpcId) the database's security group can admit the functions
database-secret        (database=existing) the secret has host, port, username, password, dbname
=====================  ==========================================================================

One line per check: ``PASS|WARN|FAIL  <check>  <what was found>  fix: <what to do>``; ``--json``
prints one document instead. Exit status 1 on any FAIL. A check that cannot ask (access denied, an
API the endpoint lacks) is a WARN naming the call, never a silent PASS. No secret value is printed.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

if TYPE_CHECKING:  # the CLI imports this module for every command: aws_cdk loads only when preflight runs
    from cdk_app.settings import StackSettings

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
MIN_BOOTSTRAP_VERSION = 6
"""The bootstrap stack version aws-cdk-lib's default synthesizer requires (its templates' rule
``CheckBootstrapVersion`` rejects 1-5; tests/preflight checks the synthesized rule agrees)."""
DEFAULT_QUALIFIER = "hnb659fds"
QUALIFIER_CONTEXT_KEY = "@aws-cdk/core:bootstrapQualifier"
TOOLKIT_STACK_NAME = "CDKToolkit"
LAMBDA_MIN_UNRESERVED = 100
"""Lambda keeps this many executions unreserved ("You can reserve up to the Unreserved account
concurrency value, minus 100"); an account whose quota is lower can reserve nothing at all."""
LAMBDA_CONCURRENCY_QUOTA_CODE = "L-B99A9384"
"""Service Quotas code of Lambda's "Concurrent executions"."""
AURORA_ENGINE = "aurora-postgresql"
SERVERLESS_CLASS = "db.serverless"
AURORA_SCALE_TO_ZERO_MINIMUMS: dict[int, tuple[int, int]] = {13: (13, 15), 14: (14, 12), 15: (15, 7), 16: (16, 3)}
"""Aurora PostgreSQL versions that pause at 0 ACU: 13.15+, 14.12+, 15.7+, 16.3+ and every later major."""
DEFAULT_DATABASE_PORT = 5432
DEFAULT_TIMEOUT_S = 5.0
STACK_NAME = "WebSocketNotifications"
"""``cdk_app.application.STACK_ID`` (tested equal): importing it would load cdk-nag and every construct."""


@dataclass(frozen=True)
class Result:
    """One check's answer: ``status`` PASS/WARN/FAIL, what was found, and the fix ("" on PASS)."""

    status: str
    check: str
    found: str
    fix: str = ""

    def line(self) -> str:
        """The human line: ``STATUS  check  found  fix: ...``."""
        return f"{self.status:<4}  {self.check}  {self.found}" + (f"  fix: {self.fix}" if self.fix else "")


class PreflightError(Exception):
    """The preflight itself cannot run (no cdk.json, a malformed ``-c``); the message says what to do."""


# --- settings: the same object synth builds -------------------------------------------------
def load_context(project_dir: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """CDK context as ``cdk synth``/``cdk deploy`` see it: ``cdk.json``'s ``"context"``, then
    ``cdk.context.json``, then each ``key=value`` of ``-c`` (a string, as the CLI passes it)."""
    cdk_json = project_dir / "cdk.json"
    try:
        context = dict(json.loads(cdk_json.read_text()).get("context", {}))
    except FileNotFoundError:
        raise PreflightError(f"no cdk.json in {project_dir}: run from the project folder or pass --project") from None
    cached = project_dir / "cdk.context.json"
    if cached.is_file():
        context.update(json.loads(cached.read_text()))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PreflightError(f"-c {item!r} is not key=value")
        context[key.strip()] = value
    return context


def settings_from(context: Mapping[str, Any]) -> "StackSettings":
    """:class:`StackSettings` from the context; raises ``SettingsError`` exactly as synth does."""
    from cdk_app.settings import StackSettings

    return StackSettings.from_mapping(context)


# --- AWS access -------------------------------------------------------------------------------
class Aws:
    """boto3 clients for one profile and region with short deadlines (a preflight must not hang).

    ``AWS_ENDPOINT_URL`` (boto3's own variable) points every client at an emulator: the tests
    run the preflight against moto's server that way.
    """

    def __init__(self, *, profile: str | None = None, region: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        import boto3
        from botocore.config import Config

        # The CDK CLI reads AWS_REGION before AWS_DEFAULT_REGION and the profile; boto3 only the latter two.
        region = region or os.environ.get("AWS_REGION") or None
        self.session = boto3.session.Session(profile_name=profile, region_name=region)
        self.region: str | None = self.session.region_name
        self.account: str | None = None
        """Set by :func:`check_identity`."""
        self._config = Config(connect_timeout=timeout_s, read_timeout=timeout_s,
                              retries={"max_attempts": 2, "mode": "standard"})
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}
        self._cache_lock = threading.Lock()  # not self._lock: fetch() makes clients

    def client(self, service: str, region: str | None = None) -> Any:
        """A cached client of ``service`` in ``region`` (default: the stack's region)."""
        key = (service, region or self.region)
        with self._lock:  # boto3 sessions are not thread-safe; checks run in parallel
            if key not in self._clients:
                self._clients[key] = self.session.client(service, region_name=key[1], config=self._config)
            return self._clients[key]

    def once(self, name: str, fetch: Callable[[], Any]) -> Any:
        """``fetch()`` once per name (two checks share the database secret); exceptions are re-raised."""
        with self._cache_lock:
            if name not in self._cache:
                try:
                    self._cache[name] = ("ok", fetch())
                except Exception as error:  # noqa: BLE001 - re-raised to each caller below
                    self._cache[name] = ("error", error)
        kind, value = self._cache[name]
        if kind == "error":
            raise value
        return value


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code") or type(error).__name__)


def _cannot_check(check: str, operation: str, error: Exception) -> Result:
    """A WARN for a call that failed for a reason other than the answer (access, network, emulator)."""
    return Result(WARN, check, f"could not call {operation}: {_error_code(error)}",
                  f"let the deploying role call {operation}, or check this by hand")


# --- the checks -------------------------------------------------------------------------------
def check_identity(aws: Aws) -> Result:
    """Credentials answer STS GetCallerIdentity."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        identity = aws.client("sts").get_caller_identity()
    except NoCredentialsError:
        return Result(FAIL, "credentials", "no AWS credentials found",
                      "run `aws configure` or `aws sso login`, or set AWS_PROFILE / AWS_ACCESS_KEY_ID")
    except (ClientError, BotoCoreError) as error:
        return Result(FAIL, "credentials", f"STS GetCallerIdentity failed: {_error_code(error)}",
                      "refresh the credentials (expired session?) or choose another profile with --profile")
    aws.account = identity["Account"]
    return Result(PASS, "credentials", f"account {aws.account} as {identity['Arn']}")


def check_region(region: str | None) -> Result:
    """A region is configured and its partition is one the stack supports."""
    from cdk_app.extension_layer import UnsupportedRegionError, check_region as supported

    if not region:
        return Result(FAIL, "region", "no region configured",
                      "set AWS_REGION (or the profile's region), or pass --region")
    try:
        supported(region)
    except UnsupportedRegionError as error:
        return Result(FAIL, "region", str(error), "deploy to a region of a supported partition")
    return Result(PASS, "region", region)


def check_bootstrap(aws: Aws, *, qualifier: str = DEFAULT_QUALIFIER, required: int = MIN_BOOTSTRAP_VERSION,
                    account: str = "ACCOUNT") -> Result:
    """The CDK bootstrap stack exists in the region and is at least ``required``."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = f"/cdk-bootstrap/{qualifier}/version"
    fix = f"run `make bootstrap` (npx cdk bootstrap aws://{account}/{aws.region})"
    try:
        version = int(aws.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])
    except ClientError as error:
        if _error_code(error) == "ParameterNotFound":
            return Result(FAIL, "bootstrap", f"{aws.region} is not bootstrapped ({name} does not exist)", fix)
        return _cannot_check("bootstrap", "ssm:GetParameter", error)
    except BotoCoreError as error:
        return _cannot_check("bootstrap", "ssm:GetParameter", error)
    except ValueError:
        return Result(FAIL, "bootstrap", f"{name} is not a number", fix)
    status = _toolkit_status(aws)
    if status and (status.endswith("_FAILED") or status == "ROLLBACK_COMPLETE"):
        return Result(FAIL, "bootstrap", f"{TOOLKIT_STACK_NAME} is {status} (version {version})",
                      f"fix or delete the {TOOLKIT_STACK_NAME} stack, then {fix}")
    if version < required:
        return Result(FAIL, "bootstrap", f"version {version}; aws-cdk-lib needs {required} or later",
                      f"{fix}: it upgrades the bootstrap stack in place")
    return Result(PASS, "bootstrap", f"version {version} (>= {required})" + (f", {TOOLKIT_STACK_NAME} {status}" if status else ""))


def _toolkit_status(aws: Aws) -> str | None:
    """The toolkit stack's status, or None when it is absent or unreadable (the parameter decides)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = aws.client("cloudformation").describe_stacks(StackName=TOOLKIT_STACK_NAME)["Stacks"]
    except (ClientError, BotoCoreError):
        return None
    return stacks[0]["StackStatus"] if stacks else None


def check_lambda_concurrency(aws: Aws, settings: "StackSettings", context: Mapping[str, Any],
                             *, stack_name: str | None = None) -> Result:
    """The two functions' reserved concurrency fits the account's quota, leaving Lambda's minimum.

    Reservations this stack already holds (an update) count as free. On FAIL the fix names
    ``-c`` values that fit (checked against the same settings validation as synth) and the quota
    to request.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    check = "lambda-concurrency"
    if settings.bring_your_own_function:
        return Result(PASS, check, "the stack deploys no function of its own (existingFunctionArn): nothing reserved")
    try:
        limit = aws.client("lambda").get_account_settings()["AccountLimit"]
        quota, unreserved = int(limit["ConcurrentExecutions"]), int(limit["UnreservedConcurrentExecutions"])
    except (ClientError, BotoCoreError, KeyError) as error:
        return _cannot_check(check, "lambda:GetAccountSettings", error)
    held = _reserved_by_stack(aws, stack_name or STACK_NAME)
    route, ops, provisioned = settings.reserved_concurrency, settings.ops_reserved_concurrency, settings.provisioned_concurrency
    need = route + ops
    floor = min(LAMBDA_MIN_UNRESERVED, quota)
    room = unreserved + held - floor
    found = (
        f"quota {quota}, unreserved {unreserved}" + (f" (+{held} this stack holds)" if held else "")
        + f", Lambda keeps {floor} unreserved: room for {max(room, 0)}; reservedConcurrency={route} + "
        f"opsReservedConcurrency={ops} = {need}" + (f" (provisionedConcurrency={provisioned} is part of the {route})" if provisioned else "")
    )
    if need <= room:
        return Result(PASS, check, found)
    others = quota - unreserved - held
    ask = (f"raise the quota to {others + need + LAMBDA_MIN_UNRESERVED} (aws service-quotas request-service-quota-increase "
           f"--service-code lambda --quota-code {LAMBDA_CONCURRENCY_QUOTA_CODE} --desired-value "
           f"{others + need + LAMBDA_MIN_UNRESERVED} --region {aws.region})")
    fitting = fitting_concurrency(settings, context, room)
    if fitting is None:
        return Result(FAIL, check, found + ": no reservation fits", ask)
    flags = " ".join(f"-c {key}={value}" for key, value in fitting.items())
    return Result(FAIL, check, found, f"deploy with {flags}, or {ask}")


def fitting_concurrency(settings: "StackSettings", context: Mapping[str, Any], room: int) -> dict[str, int] | None:
    """The largest ``reservedConcurrency`` / ``opsReservedConcurrency`` (and ``provisionedConcurrency``
    if it must shrink) that fit in ``room``, split as the settings split them; None when no valid
    settings fit. The candidate goes through the same validation as synth."""
    from cdk_app.settings import SettingsError

    route, ops = settings.reserved_concurrency, settings.ops_reserved_concurrency
    if room < 2:
        return None
    new_ops = max(1, min(ops, room * ops // (route + ops)))
    new_route = min(route, room - new_ops)
    values = {"reservedConcurrency": new_route, "opsReservedConcurrency": new_ops}
    if settings.provisioned_concurrency > new_route:
        values["provisionedConcurrency"] = new_route
    try:
        settings_from({**context, **{key: str(value) for key, value in values.items()}})
    except SettingsError:
        return None
    return values


def _reserved_by_stack(aws: Aws, stack_name: str) -> int:
    """Reserved concurrency the stack's functions hold now (0 when the stack does not exist yet)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        pages = aws.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack_name)
        names = [r["PhysicalResourceId"] for page in pages for r in page["StackResourceSummaries"]
                 if r["ResourceType"] == "AWS::Lambda::Function" and r.get("PhysicalResourceId")]
        client = aws.client("lambda")
        return sum(int(client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") or 0)
                   for name in names)
    except (ClientError, BotoCoreError):
        return 0


def check_api_gateway_logs_role(aws: Aws, settings: "StackSettings") -> Result:
    """API Gateway's account-level CloudWatch Logs role is set, or the stack will set it."""
    from botocore.exceptions import BotoCoreError, ClientError

    check = "apigateway-logs-role"
    try:
        role = aws.client("apigateway").get_account().get("cloudwatchRoleArn")
    except (ClientError, BotoCoreError) as error:
        return _cannot_check(check, "apigateway:GET /account", error)
    if role:
        return Result(PASS, check, f"set: {role}")
    if settings.create_api_gateway_logs_role:
        return Result(PASS, check, "none in this region; the stack creates and registers one (createApiGatewayLogsRole=true)")
    return Result(FAIL, check, "none in this region, and createApiGatewayLogsRole=false: the access-logged stage would fail",
                  "-c createApiGatewayLogsRole=true, or register a role: aws apigateway update-account --patch-operations "
                  "op=replace,path=/cloudwatchRoleArn,value=ROLE_ARN")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def supports_scale_to_zero(engine_version: str) -> bool:
    """True when Aurora PostgreSQL ``engine_version`` can pause at 0 ACU (13.15+, 14.12+, 15.7+, 16.3+, 17+)."""
    version = _version(engine_version)
    if not version:
        return False
    minimum = AURORA_SCALE_TO_ZERO_MINIMUMS.get(version[0])
    if minimum is None:
        return version[0] > max(AURORA_SCALE_TO_ZERO_MINIMUMS)
    return version >= minimum if len(version) > 1 else True


def _engine_version() -> str:
    from cdk_app.database import ENGINE_VERSION

    return ENGINE_VERSION.aurora_postgres_full_version


def check_aurora(aws: Aws, settings: "StackSettings", *, engine_version: str | None = None) -> Result:
    """The stack's Aurora PostgreSQL version is orderable as ``db.serverless`` here, and pauses at 0 ACU
    when ``databaseMinCapacity`` is 0. A major-only version matches any of its minor versions."""
    from botocore.exceptions import BotoCoreError, ClientError

    check = "aurora"
    version = engine_version or _engine_version()
    exact = "." in version
    try:
        query: dict[str, Any] = {"Engine": AURORA_ENGINE, "DBInstanceClass": SERVERLESS_CLASS}
        if exact:
            query["EngineVersion"] = version
        options = [
            option
            for page in aws.client("rds").get_paginator("describe_orderable_db_instance_options").paginate(**query)
            for option in page["OrderableDBInstanceOptions"]
            if option.get("DBInstanceClass") == SERVERLESS_CLASS
            and (option.get("EngineVersion") == version if exact else option.get("EngineVersion", "").startswith(version + "."))
        ]
    except (ClientError, BotoCoreError) as error:
        return _cannot_check(check, "rds:DescribeOrderableDBInstanceOptions", error)
    if not options:
        return Result(FAIL, check, f"{AURORA_ENGINE} {version} is not orderable as {SERVERLESS_CLASS} in {aws.region}",
                      f"deploy to a region that offers it (aws rds describe-orderable-db-instance-options --engine "
                      f"{AURORA_ENGINE} --db-instance-class {SERVERLESS_CLASS} --region REGION), or use database=existing")
    versions = sorted({o["EngineVersion"] for o in options}, key=_version)
    zones = sorted({z["Name"] for o in options for z in o.get("AvailabilityZones", [])})
    found = f"{AURORA_ENGINE} {versions[-1]} as {SERVERLESS_CLASS} in {len(zones)} zones"
    if settings.database_min_capacity == 0:
        if not supports_scale_to_zero(versions[-1]):
            return Result(FAIL, check, f"{found}, but {versions[-1]} cannot scale to 0 ACU (databaseMinCapacity=0)",
                          "-c databaseMinCapacity=0.5 (or an engine version with auto-pause: 13.15+, 14.12+, 15.7+, 16.3+)")
        found += ", scales to zero"
    return Result(PASS, check, found)


def check_nat_instance(aws: Aws, settings: "StackSettings", *, instance_type: str | None = None,
                       zone_count: int | None = None) -> Result:
    """The NAT instance type is offered in the zones the created VPC uses (``Fn::GetAZs``: the region's
    available zones in order; the one NAT instance goes to the first)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from cdk_app.network import MAX_AZS, NAT_INSTANCE_TYPE

    check = "nat-instance"
    instance_type = instance_type or NAT_INSTANCE_TYPE
    ec2 = aws.client("ec2")
    try:
        zones = sorted(z["ZoneName"] for z in ec2.describe_availability_zones(
            Filters=[{"Name": "state", "Values": ["available"]}, {"Name": "zone-type", "Values": ["availability-zone"]}]
        )["AvailabilityZones"] if z.get("OptInStatus", "opt-in-not-required") == "opt-in-not-required")
        zones = zones[: zone_count or MAX_AZS]
        offered = {o["Location"] for o in ec2.describe_instance_type_offerings(
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": [instance_type]}, {"Name": "location", "Values": zones}],
        )["InstanceTypeOfferings"]}
    except (ClientError, BotoCoreError) as error:
        return _cannot_check(check, "ec2:DescribeInstanceTypeOfferings", error)
    if not zones or zones[0] not in offered:
        return Result(FAIL, check, f"{instance_type} is not offered in {zones[0] if zones else 'any zone'}, where the NAT instance goes",
                      "-c vpcEgress=nat-gateway (a managed NAT gateway, offered in every zone)")
    missing = [z for z in zones if z not in offered]
    return Result(PASS, check, f"{instance_type} offered in {', '.join(sorted(offered))}"
                  + (f" (not in {', '.join(missing)}, which has no NAT)" if missing else ""))


def covers(name: str, domain: str) -> bool:
    """True when a certificate name (``*.example.com`` wildcards one label) covers ``domain``."""
    name, domain = name.lower().rstrip("."), domain.lower().rstrip(".")
    if name.startswith("*."):
        head, _, rest = domain.partition(".")
        return bool(head) and rest == name[2:]
    return name == domain


def check_certificate(aws: Aws, settings: "StackSettings") -> Result:
    """The custom domain's certificate is ISSUED, in the stack's region, and covers ``domainName``."""
    from botocore.exceptions import BotoCoreError, ClientError

    check, arn, domain = "certificate", settings.certificate_arn or "", settings.domain_name or ""
    cert_region = arn.split(":")[3]
    if cert_region != aws.region:
        return Result(FAIL, check, f"{arn} is in {cert_region}; the stack deploys to {aws.region}",
                      f"request or import a certificate for {domain} in {aws.region} (a regional API needs one in its own region)")
    try:
        cert = aws.client("acm", cert_region).describe_certificate(CertificateArn=arn)["Certificate"]
    except ClientError as error:
        if _error_code(error) == "ResourceNotFoundException":
            return Result(FAIL, check, f"{arn} does not exist", "check certificateArn (aws acm list-certificates)")
        return _cannot_check(check, "acm:DescribeCertificate", error)
    except BotoCoreError as error:
        return _cannot_check(check, "acm:DescribeCertificate", error)
    names = list(dict.fromkeys([cert.get("DomainName", ""), *cert.get("SubjectAlternativeNames", [])]))
    if cert.get("Status") != "ISSUED":
        return Result(FAIL, check, f"{arn} is {cert.get('Status')}",
                      "complete its validation (aws acm describe-certificate shows the DNS record), then deploy")
    if not any(covers(name, domain) for name in names):
        return Result(FAIL, check, f"{arn} covers {', '.join(names)}, not {domain}",
                      f"use a certificate for {domain} or *.{domain.partition('.')[2]}")
    return Result(PASS, check, f"ISSUED in {cert_region}, covers {domain} ({', '.join(names)})")


def check_subnet_egress(aws: Aws, settings: "StackSettings") -> Result:
    """Each subnet of the function routes 0.0.0.0/0 to a NAT gateway or instance: the function posts
    to the public ``@connections`` endpoint (no VPC endpoint serves it)."""
    from botocore.exceptions import BotoCoreError, ClientError

    check = "subnet-egress"
    ec2 = aws.client("ec2")
    problems, targets = [], []
    try:
        found = {s["SubnetId"]: s for s in ec2.describe_subnets(SubnetIds=list(settings.subnet_ids))["Subnets"]}
        main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [settings.vpc_id]},
                                                  {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
        for subnet_id in settings.subnet_ids:
            subnet = found.get(subnet_id)
            if subnet is None or subnet.get("VpcId") != settings.vpc_id:
                problems.append(f"{subnet_id} is not in {settings.vpc_id}")
                continue
            tables = ec2.describe_route_tables(
                Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["RouteTables"] or main
            route = next((r for t in tables for r in t.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"), None)
            target = _egress_target(route)
            if target is None or target.startswith("igw-") or (route or {}).get("State") == "blackhole":
                why = ("routes to an internet gateway (a public subnet: the function gets no public IP)"
                       if target and target.startswith("igw-") else "has no working 0.0.0.0/0 route")
                problems.append(f"{subnet_id} {why}")
            else:
                targets.append(f"{subnet_id} -> {target}")
    except (ClientError, BotoCoreError) as error:
        return _cannot_check(check, "ec2:DescribeRouteTables", error)
    if problems:
        return Result(FAIL, check, "; ".join(problems),
                      "list private subnets (subnetIds) whose route table sends 0.0.0.0/0 to a NAT gateway or NAT instance")
    return Result(PASS, check, "; ".join(targets))


def _egress_target(route: Mapping[str, Any] | None) -> str | None:
    if not route:
        return None
    for key in ("NatGatewayId", "InstanceId", "NetworkInterfaceId", "TransitGatewayId", "GatewayId"):
        if route.get(key):
            return str(route[key])
    return None


def check_execute_api_endpoint(aws: Aws, settings: "StackSettings") -> Result:
    """No execute-api interface endpoint with private DNS in the VPC: it answers every
    ``*.execute-api`` name from inside the VPC, and ``@connections`` (a public API) then gets 403."""
    from botocore.exceptions import BotoCoreError, ClientError

    check = "execute-api-endpoint"
    try:
        endpoints = [
            e for e in aws.client("ec2").describe_vpc_endpoints(
                Filters=[{"Name": "vpc-id", "Values": [settings.vpc_id]}])["VpcEndpoints"]
            if e.get("ServiceName", "").endswith(".execute-api") and e.get("VpcEndpointType") == "Interface"
        ]
    except (ClientError, BotoCoreError) as error:
        return _cannot_check(check, "ec2:DescribeVpcEndpoints", error)
    private = [e["VpcEndpointId"] for e in endpoints if e.get("PrivateDnsEnabled")]
    if private:
        return Result(FAIL, check, f"{', '.join(private)} (execute-api) has private DNS in {settings.vpc_id}: "
                      "the function's @connections calls would get 403",
                      f"turn private DNS off on {', '.join(private)} (private APIs then use their "
                      "https://API-VPCE.execute-api... names), or run the function in subnets of another VPC")
    return Result(PASS, check, f"no execute-api endpoint with private DNS in {settings.vpc_id}"
                  + (f" ({len(endpoints)} without)" if endpoints else ""))


REQUIRED_SECRET_FIELDS = ("host", "port", "username", "password", "dbname")
_FIELD_SETTINGS = {"host": "databaseHost", "port": "databasePort", "dbname": "databaseName"}


def _secret(aws: Aws, settings: "StackSettings") -> dict[str, Any]:
    """The database secret's JSON object (never printed). Raises the client's error, or ValueError."""
    arn = settings.database_secret_arn or ""

    def fetch() -> dict[str, Any]:
        text = aws.client("secretsmanager", arn.split(":")[3]).get_secret_value(SecretId=arn).get("SecretString") or ""
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        return value

    return aws.once("database-secret", fetch)


def check_database_secret(aws: Aws, settings: "StackSettings") -> Result:
    """The secret has every field the function reads (host/port/dbname may come from settings instead).
    Only field NAMES are reported."""
    from botocore.exceptions import BotoCoreError, ClientError

    check = "database-secret"
    try:
        secret = _secret(aws, settings)
    except ValueError:
        return Result(FAIL, check, f"{settings.database_secret_arn} does not hold a JSON object",
                      "store the RDS format: {\"host\", \"port\", \"username\", \"password\", \"dbname\"}")
    except ClientError as error:
        if _error_code(error) == "ResourceNotFoundException":
            return Result(FAIL, check, f"{settings.database_secret_arn} does not exist", "check databaseSecretArn")
        return _cannot_check(check, "secretsmanager:GetSecretValue", error)
    except BotoCoreError as error:
        return _cannot_check(check, "secretsmanager:GetSecretValue", error)
    given = {field for field, key in _FIELD_SETTINGS.items()
             if getattr(settings, {"host": "database_host", "port": "database_port", "dbname": "database_name"}[field]) is not None}
    missing = [f for f in REQUIRED_SECRET_FIELDS if f not in given and secret.get(f) in (None, "")]
    if missing:
        settable = [f"-c {_FIELD_SETTINGS[f]}=..." for f in missing if f in _FIELD_SETTINGS]
        return Result(FAIL, check, f"the secret lacks {', '.join(missing)}",
                      f"add {', '.join(missing)} to the secret" + (f", or set {' '.join(settable)}" if settable else ""))
    return Result(PASS, check, "has " + ", ".join(f for f in REQUIRED_SECRET_FIELDS if f not in given)
                  + (f" (settings give {', '.join(sorted(given))})" if given else ""))


def check_database_ingress(aws: Aws, settings: "StackSettings") -> Result:
    """The database's security group can admit the functions before the migration runs: the stack
    adds the rule (``databaseSecurityGroupId``), or the group already admits ``securityGroupIds`` or
    the subnets' address ranges. A group the stack creates cannot be admitted in advance."""
    from botocore.exceptions import BotoCoreError, ClientError

    check = "database-ingress"
    ec2 = aws.client("ec2")
    stack_adds = settings.database_security_group_id
    try:
        if stack_adds:
            try:
                ec2.describe_security_groups(GroupIds=[stack_adds])
            except ClientError as error:
                if _error_code(error) != "InvalidGroup.NotFound":
                    raise
                return Result(FAIL, check, f"databaseSecurityGroupId {stack_adds} does not exist in {aws.region}",
                              "set it to the database's security group (aws rds describe-db-clusters shows VpcSecurityGroups)")
            return Result(PASS, check, f"the stack adds an ingress rule to {stack_adds} (databaseSecurityGroupId)")
        secret: Mapping[str, Any] = {}
        try:
            secret = _secret(aws, settings)
        except (ClientError, BotoCoreError, ValueError):
            pass  # database-secret reports it; the settings may still name the host
        host = settings.database_host or secret.get("host")
        port = int(settings.database_port or secret.get("port") or DEFAULT_DATABASE_PORT)
        groups = _database_groups(aws, settings, host)
        if not groups:
            return Result(WARN, check, f"no RDS database found for {host or 'the secret host'}: its security group is unknown",
                          "make sure the database's security group admits the function's on port "
                          f"{port}, or set databaseSecurityGroupId")
        rules = [r for g in ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"] for r in g.get("IpPermissions", [])
                 if r.get("IpProtocol") == "-1"
                 or (r.get("IpProtocol") in ("tcp", "6") and r.get("FromPort", 0) <= port <= r.get("ToPort", 65535))]
        admitted = {p["GroupId"] for r in rules for p in r.get("UserIdGroupPairs", [])}
        ours = [g for g in settings.security_group_ids if g in admitted]
        if ours:
            return Result(PASS, check, f"{', '.join(groups)} admits {', '.join(ours)} on port {port}")
        subnets = ec2.describe_subnets(SubnetIds=list(settings.subnet_ids))["Subnets"]
        cidrs = [ipaddress.ip_network(s["CidrBlock"]) for s in subnets]
        ranges = [ipaddress.ip_network(ip["CidrIp"]) for r in rules for ip in r.get("IpRanges", [])]
        if cidrs and all(any(c.subnet_of(rng) for rng in ranges) for c in cidrs):
            return Result(PASS, check, f"{', '.join(groups)} admits the subnets' ranges on port {port}")
    except (ClientError, BotoCoreError) as error:
        return _cannot_check(check, "ec2:DescribeSecurityGroups", error)
    named = f"securityGroupIds ({', '.join(settings.security_group_ids)})" if settings.security_group_ids else \
        "the group the stack creates"
    return Result(FAIL, check, f"{', '.join(groups)} admits neither {named} nor the subnets' ranges on port {port}: "
                  "the migration could not connect",
                  f"-c databaseSecurityGroupId={groups[0]} (the stack adds the rule), or admit a group you name in "
                  f"securityGroupIds: aws ec2 authorize-security-group-ingress --group-id {groups[0]} --protocol tcp "
                  f"--port {port} --source-group SG")


def _database_groups(aws: Aws, settings: "StackSettings", host: str | None) -> list[str]:
    """Security groups of the database named by identifier, or whose endpoint is ``host``."""
    rds = aws.client("rds")
    if settings.database_cluster_identifier:
        clusters = rds.describe_db_clusters(DBClusterIdentifier=settings.database_cluster_identifier)["DBClusters"]
        return [g["VpcSecurityGroupId"] for c in clusters for g in c.get("VpcSecurityGroups", [])]
    if settings.database_instance_identifier:
        instances = rds.describe_db_instances(DBInstanceIdentifier=settings.database_instance_identifier)["DBInstances"]
        return [g["VpcSecurityGroupId"] for i in instances for g in i.get("VpcSecurityGroups", [])]
    if not host:
        return []
    for cluster in rds.describe_db_clusters()["DBClusters"]:
        if host in (cluster.get("Endpoint"), cluster.get("ReaderEndpoint")):
            return [g["VpcSecurityGroupId"] for g in cluster.get("VpcSecurityGroups", [])]
    for instance in rds.describe_db_instances()["DBInstances"]:
        if host == instance.get("Endpoint", {}).get("Address"):
            return [g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", [])]
    return []


# --- running ----------------------------------------------------------------------------------
def planned_checks(aws: Aws, settings: "StackSettings", context: Mapping[str, Any],
                   account: str) -> list[tuple[str, Callable[[], Result]]]:
    """The checks these settings need after credentials and region, as (name, check), in report order."""
    qualifier = str(context.get(QUALIFIER_CONTEXT_KEY) or DEFAULT_QUALIFIER)
    checks: list[tuple[str, Callable[[], Result]]] = [
        ("bootstrap", lambda: check_bootstrap(aws, qualifier=qualifier, account=account)),
        ("lambda-concurrency", lambda: check_lambda_concurrency(aws, settings, context)),
        ("apigateway-logs-role", lambda: check_api_gateway_logs_role(aws, settings)),
    ]
    # jsii (aws_cdk) is not thread-safe: the stack's constants are read here, before the checks run in threads.
    if settings.creates_database:
        engine_version = _engine_version()
        checks.append(("aurora", lambda: check_aurora(aws, settings, engine_version=engine_version)))
        if settings.vpc_egress == "nat-instance":
            from cdk_app.network import MAX_AZS, NAT_INSTANCE_TYPE

            checks.append(("nat-instance", lambda: check_nat_instance(aws, settings, instance_type=NAT_INSTANCE_TYPE,
                                                                      zone_count=MAX_AZS)))
    if settings.domain_name:
        checks.append(("certificate", lambda: check_certificate(aws, settings)))
    if settings.vpc_id and not settings.bring_your_own_function:
        checks += [("subnet-egress", lambda: check_subnet_egress(aws, settings)),
                   ("execute-api-endpoint", lambda: check_execute_api_endpoint(aws, settings))]
        if settings.database == "existing":
            checks.append(("database-ingress", lambda: check_database_ingress(aws, settings)))
    if settings.database == "existing" and not settings.bring_your_own_function:
        checks.append(("database-secret", lambda: check_database_secret(aws, settings)))
    return checks


def _guarded(planned: tuple[str, Callable[[], Result]]) -> Result:
    name, check = planned
    try:
        return check()
    except Exception as error:  # noqa: BLE001 - one broken check must not hide the others' answers
        return Result(WARN, name, f"the check itself failed: {type(error).__name__}: {error}",
                      "check this by hand, and report the preflight bug")


def run_preflight(context: Mapping[str, Any], *, profile: str | None = None, region: str | None = None) -> list[Result]:
    """Every check for the settings in ``context``, against the account boto3 finds."""
    from cdk_app.settings import SettingsError

    try:
        settings = settings_from(context)
    except SettingsError as error:
        return [Result(FAIL, "settings", str(error), "fix the -c value or cdk.json (synth refuses it too)")]
    try:
        aws = Aws(profile=profile, region=region)
    except Exception as error:  # noqa: BLE001 - e.g. ProfileNotFound: one FAIL line, no traceback
        return [Result(FAIL, "credentials", f"{type(error).__name__}: {error}", "choose an existing profile (aws configure list-profiles)")]
    results = [check_region(aws.region)]
    if results[0].status == FAIL:
        return results
    results.insert(0, check_identity(aws))
    if results[0].status == FAIL:
        return results
    with ThreadPoolExecutor(max_workers=8) as pool:
        results += list(pool.map(_guarded, planned_checks(aws, settings, context, aws.account or "ACCOUNT")))
    return results


def add_parser(sub: Any) -> None:
    """Register ``wsctl preflight`` on the CLI's subparsers."""
    parser = sub.add_parser("preflight", help="check the account before a deploy", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE",
                        help="a CDK context value, as given to cdk synth/deploy (repeatable)")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="folder with cdk.json (default: the current one)")
    parser.add_argument("--profile", default=None, help="AWS profile (default: boto3's: AWS_PROFILE or default)")
    parser.add_argument("--region", default=None, help="AWS region (default: AWS_REGION / the profile's)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=command, ignores_cdk_options=True)  # other cdk flags in CDK_ARGS are ignored


def command(args: argparse.Namespace) -> int:
    """Run the preflight; print one line per check (or JSON); 1 on any FAIL."""
    started = time.monotonic()
    if getattr(args, "extra", None):
        print(f"wsctl preflight: ignoring options that are not settings: {' '.join(args.extra)}", file=sys.stderr)
    try:
        context = load_context(args.project, args.context)
    except (PreflightError, ValueError) as error:
        print(f"wsctl preflight: error: {error}", file=sys.stderr)
        return 1
    results = run_preflight(context, profile=args.profile, region=args.region)
    seconds = round(time.monotonic() - started, 2)
    failed = sum(r.status == FAIL for r in results)
    if args.json:
        print(json.dumps({"ok": not failed, "seconds": seconds, "results": [asdict(r) for r in results]}, indent=2))
    else:
        for result in results:
            print(result.line())
        warned = sum(r.status == WARN for r in results)
        print(f"preflight: {len(results)} checks, {failed} FAIL, {warned} WARN in {seconds} s", file=sys.stderr)
    return 1 if failed else 0
