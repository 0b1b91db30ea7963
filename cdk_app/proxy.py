"""Optional RDS Proxy between the functions and an existing RDS/Aurora PostgreSQL database."""
from __future__ import annotations

import math
from typing import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from cdk_app.network import import_vpc_and_subnets

POSTGRES_PORT = 5432
IDLE_CLIENT_TIMEOUT = cdk.Duration.minutes(10)
"""A frozen Lambda instance keeps its client connection to the proxy; the proxy drops it after this
(API Gateway's own idle timeout), which costs the proxy nothing and the next invocation a reconnect."""
MAX_IDLE_CONNECTIONS_SHARE = 0.5
"""Share of the proxy's pool it may keep idle; the rest is closed when traffic drops (fewer slots held)."""


def pool_percent(*, database_max_connections: int, database_reserved_connections: int) -> int:
    """``MaxConnectionsPercent`` that keeps the proxy's pool inside the connections left to this stack.

    Floor of ``100 * (max - reserved) / max``, at least 1: the proxy never opens more than
    ``databaseMaxConnections - databaseReservedConnections`` database connections.
    """
    budget = database_max_connections - database_reserved_connections
    return max(1, math.floor(100 * budget / database_max_connections))


class DatabaseProxy(Construct):
    """An RDS Proxy in front of the database, sized to the stack's connection budget.

    - The pool is at most ``databaseMaxConnections - databaseReservedConnections`` connections
      (:func:`pool_percent`), so any number of function instances share that many.
    - ``ConnectionBorrowTimeout`` is shorter than the route function's timeout: a client that cannot
      get a pooled connection gets an error answer before Lambda kills the invocation.
    - TLS is required. Clients log in with the database secret's user and password (the function
      already reads that secret); IAM authentication is off because minting an IAM token on each
      cold connect would pull boto3 and signing into the ``$connect`` path. The proxy's own role may
      only read that one secret (CDK grants it).
    - Statements that set session variables do not pin sessions (``EXCLUDE_VARIABLE_SETS``): every
      client of this proxy is one of our functions with the same timeouts, so a timeout set by one
      client is the one every other client would set.
    - Its own security group admits PostgreSQL only from the functions' security groups. The
      database's security group must admit the proxy's (:attr:`security_group`).

    :param target: the database: ``rds.ProxyTarget.from_cluster(...)`` or ``from_instance(...)``
        (see :func:`imported_target`).
    :param secret: the RDS-format secret the proxy logs in with.
    :param vpc_id: the VPC of the functions and the database.
    :param subnet_ids: subnets for the proxy (the functions' subnets; two AZs or more).
    :param database_max_connections: the database's ``max_connections``.
    :param database_reserved_connections: connections kept for other users of the database.
    :param borrow_timeout_seconds: how long a client waits for a pooled connection.
    :param extra_security_group_ids: groups the database already admits (``securityGroupIds``), added
        to the proxy's own so it reaches the database from its first deploy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        target: rds.ProxyTarget,
        secret: secretsmanager.ISecret,
        vpc_id: str,
        subnet_ids: Sequence[str],
        database_max_connections: int,
        database_reserved_connections: int,
        borrow_timeout_seconds: int,
        extra_security_group_ids: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        vpc, subnets = import_vpc_and_subnets(self, vpc_id=vpc_id, subnet_ids=subnet_ids, used_for="the proxy's endpoints")
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="RDS Proxy of the WebSocket notification functions (admit it on the database)",
            allow_all_outbound=False,
        )
        # Outbound only to PostgreSQL's port; the database's address is not known at synth (its
        # security group decides who may connect).
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(POSTGRES_PORT), "PostgreSQL to the database")
        self.max_connections_percent = pool_percent(
            database_max_connections=database_max_connections,
            database_reserved_connections=database_reserved_connections,
        )
        self.proxy = rds.DatabaseProxy(
            self,
            "Proxy",
            # A name unique to this stack and path (the default, the construct id, would collide
            # between two deployments in one account and region).
            db_proxy_name=cdk.Names.unique_resource_name(self, max_length=60, separator="-"),
            proxy_target=target,
            secrets=[secret],
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=subnets),
            security_groups=[
                self.security_group,
                *(
                    ec2.SecurityGroup.from_security_group_id(self, f"NamedSecurityGroup{i}", group_id, mutable=False)
                    for i, group_id in enumerate(extra_security_group_ids)
                ),
            ],
            require_tls=True,
            iam_auth=False,
            borrow_timeout=cdk.Duration.seconds(borrow_timeout_seconds),
            max_connections_percent=self.max_connections_percent,
            max_idle_connections_percent=max(1, math.floor(self.max_connections_percent * MAX_IDLE_CONNECTIONS_SHARE)),
            idle_client_timeout=IDLE_CLIENT_TIMEOUT,
            session_pinning_filters=[rds.SessionPinningFilter.EXCLUDE_VARIABLE_SETS],
        )
        self.endpoint = self.proxy.endpoint
        """Host name the functions connect to (``DATABASE_HOST``)."""
        role = self.proxy.node.find_child("IAMRole")
        if not isinstance(role, iam.Role):
            raise TypeError(f"expected the proxy's IAM role, got {type(role).__name__}")
        self.role: iam.IRole = role
        """The role the proxy reads the database secret with (gets kms:Decrypt for a customer-managed key)."""

    def allow_from(self, peer: ec2.IConnectable) -> None:
        """Admit ``peer`` (a function in the VPC) on the PostgreSQL port."""
        self.proxy.connections.allow_from(peer, ec2.Port.tcp(POSTGRES_PORT), "WebSocket notification function to its proxy")


def imported_target(
    scope: Construct, *, cluster_identifier: str | None, instance_identifier: str | None
) -> rds.ProxyTarget:
    """The proxy target for an existing Aurora PostgreSQL cluster or RDS for PostgreSQL instance.

    Only the identifier reaches the template (the proxy's target group names it); nothing is
    looked up at synth.
    """
    if cluster_identifier:
        cluster = rds.DatabaseCluster.from_database_cluster_attributes(
            scope,
            "Database",
            cluster_identifier=cluster_identifier,
            engine=rds.DatabaseClusterEngine.AURORA_POSTGRESQL,
            port=POSTGRES_PORT,
        )
        return rds.ProxyTarget.from_cluster(cluster)
    if instance_identifier:
        instance = rds.DatabaseInstance.from_database_instance_attributes(
            scope,
            "Database",
            instance_identifier=instance_identifier,
            # Not used by the proxy (its target group names the instance); the attribute is mandatory.
            instance_endpoint_address=f"{instance_identifier}.unused.invalid",
            port=POSTGRES_PORT,
            security_groups=[],
            engine=rds.DatabaseInstanceEngine.POSTGRES,
        )
        return rds.ProxyTarget.from_instance(instance)
    raise ValueError("imported_target needs cluster_identifier or instance_identifier")
