"""The PostgreSQL the stack creates for a team that has none (``database=create``).

Aurora Serverless v2 PostgreSQL, one writer, encrypted at rest, in the stack's own VPC, that
pauses (0 ACU, no compute charge) after :data:`AUTO_PAUSE` without connections and resumes on the
next one (about 15 seconds: the function's database connect timeout is raised to cover it). Its
master credentials are a generated Secrets Manager secret in the RDS format (host, port, dbname
included), which the function reads.
"""
from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from cdk_app.compliance import (
    BASIC_EXECUTION_POLICY_FINDING,
    cdk_helper,
    skip_checkov,
    skip_checkov_for_cdk_helper_function,
)

ENGINE_VERSION = rds.AuroraPostgresEngineVersion.VER_17_7
"""Aurora PostgreSQL 17.7: supports scaling to 0 ACU (auto-pause needs 13.15, 14.12, 15.7, 16.3, 17.4 or newer).

Automatic minor upgrades are off (cluster and writer): with them on, AWS moves the cluster to 17.x in a
maintenance window while the template still says 17.7, and the next deploy that touches the cluster
fails ("Cannot upgrade aurora-postgresql from 17.x to 17.7"). To upgrade: raise this version and
deploy (CloudFormation applies the minor upgrade, with a short restart)."""
DATABASE_NAME = "websocket"
MASTER_USERNAME = "websocket_admin"
AUTO_PAUSE = cdk.Duration.minutes(5)
BACKUP_RETENTION = cdk.Duration.days(7)
RESUME_CONNECT_TIMEOUT_SECONDS = 25
"""Connect timeout for a database that may be paused: resuming takes about 15 s; API Gateway waits 29 s."""


class NotificationDatabase(Construct):
    """Aurora Serverless v2 PostgreSQL that scales to zero when idle.

    :param vpc: the VPC (the database goes into ``subnets``).
    :param subnets: private subnets for the cluster.
    :param min_capacity: minimum ACUs (0 lets it pause when idle).
    :param max_capacity: maximum ACUs.
    :param log_retention: retention of the log group RDS creates for the ``postgresql`` export
        (``/aws/rds/cluster/<id>/postgresql``; CDK's log-retention custom resource sets it, and its own
        function's log group to one day).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        min_capacity: float,
        max_capacity: float,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            engine=rds.DatabaseClusterEngine.aurora_postgres(version=ENGINE_VERSION),
            # No automatic minor upgrades: the template's EngineVersion stays the cluster's real version, so a later
            # deploy never asks RDS to "upgrade" 17.x back to an older minor (README: Database engine version).
            writer=rds.ClusterInstance.serverless_v2("Writer", auto_minor_version_upgrade=False),
            serverless_v2_min_capacity=min_capacity,
            serverless_v2_max_capacity=max_capacity,
            serverless_v2_auto_pause_duration=AUTO_PAUSE if min_capacity == 0 else None,
            vpc=vpc,
            vpc_subnets=subnets,
            default_database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_generated_secret(MASTER_USERNAME),
            storage_encrypted=True,
            # No deletion protection: a protected cluster cannot be removed by the rollback of a failed
            # first deploy, which would leave the stack stuck. Stack delete and replacement snapshot it.
            deletion_protection=False,
            backup=rds.BackupProps(retention=BACKUP_RETENTION),
            removal_policy=cdk.RemovalPolicy.SNAPSHOT,
            cloudwatch_logs_exports=["postgresql"],
            cloudwatch_logs_retention=log_retention,
        )
        cfn_cluster = self.cluster.node.default_child
        if not isinstance(cfn_cluster, rds.CfnDBCluster):
            raise TypeError(f"expected the cluster's CfnDBCluster, got {type(cfn_cluster).__name__}")
        cfn_cluster.auto_minor_version_upgrade = False
        self._acknowledge_log_retention_function()
        secret = self.cluster.secret
        if secret is None:  # from_generated_secret always attaches one
            raise RuntimeError("the database cluster has no generated secret")
        self.secret: secretsmanager.ISecret = secret
        skip_checkov(
            self.cluster,
            "CKV_AWS_162",
            "The functions log in with the generated password from Secrets Manager; IAM database authentication "
            "would add a token call (and boto3) on every cold start and caps new connections per second",
        )
        for instance in self.cluster.node.children:
            if isinstance(instance, rds.CfnDBInstance) or isinstance(getattr(instance.node, "default_child", None), rds.CfnDBInstance):
                skip_checkov(
                    instance,
                    "CKV_AWS_118",
                    "Enhanced monitoring bills a per-second OS agent on a database that scales to zero; the "
                    "DatabaseConnections alarm, the dashboard and the exported postgresql log cover operations",
                )
        skip_checkov(
            self.cluster.node.find_child("Secret"),
            "CKV_AWS_149",
            "RDS generates this master secret encrypted with the AWS-managed aws/secretsmanager key; only this "
            "stack's function roles may read it (resource-scoped grants), so a customer key adds no reader control",
        )
        cdk.Validations.of(self.cluster).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-RDS6",
                reason="The function logs in with the generated password from Secrets Manager; IAM database "
                "authentication would add a token call on every cold start and caps new connections per second",
            ),
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-RDS10",
                reason="Deletion protection would block the rollback of a failed first deploy (the retry then "
                "fails); DeletionPolicy/UpdateReplacePolicy Snapshot keep a final snapshot when the stack deletes "
                "or replaces the cluster",
            ),
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-RDS11",
                reason="Only the function's security group may reach the cluster, inside a private VPC; a "
                "non-default port adds nothing to that and breaks psql defaults for operators",
            ),
        )
        cdk.Validations.of(self.cluster.node.find_child("Secret")).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-SMG4",
                reason="Rotating the master secret needs a rotation function with its own network path; the "
                "function re-reads the secret after a failed login, so rotate it on demand with "
                "`aws secretsmanager rotate-secret` once a rotation is configured (README: Database)",
            )
        )

    def _acknowledge_log_retention_function(self) -> None:
        """Record why CDK's log-retention function (it sets the retention of RDS's postgresql log group,
        which RDS creates itself, existing or not) is as it is."""
        provider = cdk_helper(self, "LogRetention")
        role = provider.node.find_child("ServiceRole")
        cdk.Validations.of(role).acknowledge(
            cdk.Acknowledgment(
                id=BASIC_EXECUTION_POLICY_FINDING,
                reason="CDK's log-retention function writes only its own logs with this AWS policy",
            ),
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="CDK's log-retention function may only put/delete retention policies; the RDS log group's "
                "name is known only after the cluster exists",
            ),
        )
        policy = role.node.find_child("DefaultPolicy")
        skip_checkov(policy, "CKV_AWS_111", "logs:PutRetentionPolicy/DeleteRetentionPolicy only, on a log group "
                     "RDS names after the cluster's generated identifier (CDK's log-retention function)")
        skip_checkov_for_cdk_helper_function(
            provider.node.find_child("Resource"), name="CDK's log-retention function", calls="the CloudWatch Logs API"
        )
