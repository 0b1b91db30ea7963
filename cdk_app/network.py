"""The VPC the stack creates for its own database (``database=create``).

Two Availability Zones, a public and a private subnet in each, and ONE way out to the internet for
the private subnets. The function needs that egress: the API Gateway Management API
(``@connections``) has no VPC endpoint, and Secrets Manager and the CloudFormation response
URL are reached the same way. S3 gets a free gateway endpoint.

Egress (setting ``vpcEgress``):

* ``nat-instance`` (default): one ``t4g.nano`` NAT instance, about $3/month plus its EBS volume.
  The lowest cost that works; trade-offs: one instance in one AZ (if it stops, notify and secret
  reads fail until it is replaced), and you own its patching (a fresh Amazon Linux 2023 image on
  every replacement).
* ``nat-gateway``: one managed NAT gateway, about $33/month plus $0.045 per GB: scales and heals
  itself; still one AZ.

The NAT instance's image is resolved ONCE (:class:`NatImage`): a custom resource reads the public SSM
parameter of the latest Amazon Linux 2023 arm64 image when the stack is created, and CloudFormation
keeps that id afterwards. A ``{{resolve:ssm:...}}`` or SSM-typed parameter (CDK's default) is re-read
at every deploy, so each new Amazon Linux release would replace the instance (egress down, a new
public IP) on an unrelated update. To move to a newer image on purpose: ``-c natInstanceImageId=ami-...``
(``aws ssm get-parameter --name`` :data:`NAT_IMAGE_PARAMETER`), or replace the lookup.
"""
from __future__ import annotations

from typing import Sequence

import aws_cdk as cdk
import jsii
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_app.compliance import (
    BASIC_EXECUTION_POLICY_FINDING,
    cdk_helper,
    skip_checkov,
    skip_checkov_for_cdk_helper_function,
)
from cdk_app.encryption import DataEncryptionKey

NAT_INSTANCE_TYPE = "t4g.nano"
MAX_AZS = 2
VPC_CIDR = "10.0.0.0/16"
"""Literal (not CDK's default token) so the NAT security group's rule is checkable at synth."""
ROOT_DEVICE = "/dev/xvda"
"""Root device of the Amazon Linux 2023 image the NAT instance runs."""
NAT_IMAGE_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-arm64"
"""AWS's public SSM parameter naming the latest Amazon Linux 2023 arm64 image (the t4g NAT instance's)."""


@jsii.implements(ec2.IMachineImage)
class _FixedLinuxImage:
    """A Linux machine image given by id (a literal or a token)."""

    def __init__(self, image_id: str) -> None:
        self.image_id = image_id

    def get_image(self, scope: Construct) -> ec2.MachineImageConfig:  # noqa: ARG002 (jsii interface)
        return ec2.MachineImageConfig(
            image_id=self.image_id, os_type=ec2.OperatingSystemType.LINUX, user_data=ec2.UserData.for_linux()
        )


class NatImage(Construct):
    """The NAT instance's image id, read from :data:`NAT_IMAGE_PARAMETER` once, when the stack is created.

    A custom resource (CDK's ``AwsCustomResource``) calls ``ssm:GetParameter`` on create and again only
    if the lookup itself changes (its properties: never on an ordinary deploy), so a new Amazon Linux
    release does not replace the NAT instance. Its function's log group keeps :paramref:`log_retention`.

    :param log_retention: retention of the lookup function's log group.
    """

    def __init__(self, scope: Construct, construct_id: str, *, log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        call = cr.AwsSdkCall(
            service="SSM",
            action="getParameter",
            parameters={"Name": NAT_IMAGE_PARAMETER},
            physical_resource_id=cr.PhysicalResourceId.of(NAT_IMAGE_PARAMETER),
            output_paths=["Parameter.Value"],
        )
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY,
            encryption_key=DataEncryptionKey.of(self).key,
        )
        self.lookup = cr.AwsCustomResource(
            self,
            "Lookup",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["ssm:GetParameter"],
                        resources=[
                            stack.format_arn(service="ssm", account="", resource="parameter", resource_name=NAT_IMAGE_PARAMETER.lstrip("/"))
                        ],
                    )
                ]
            ),
            log_group=self.log_group,
            install_latest_aws_sdk=False,
        )
        self.image_id = self.lookup.get_response_field("Parameter.Value")
        """The image id resolved at create (a token)."""
        self._acknowledge_lookup_function(self)

    @staticmethod
    def _acknowledge_lookup_function(scope: Construct) -> None:
        """Record why CDK's singleton SDK-call function is as it is (cdk-nag and checkov)."""
        provider = cdk_helper(scope, "AWS679f53fac002430cb0da5b7982bd2287")
        cdk.Validations.of(provider).acknowledge(
            cdk.Acknowledgment(
                id=BASIC_EXECUTION_POLICY_FINDING,
                reason="CDK's SDK-call function (the NAT image lookup) writes only its own logs with this AWS policy",
            ),
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-L1",
                reason="CDK's SDK-call function: its runtime is chosen by aws-cdk-lib, which is pinned; it runs only "
                "when the NAT image lookup is created",
            ),
            cdk.Acknowledgment(
                id="Serverless::Serverless-LambdaDefaultMemorySize",
                reason="CDK's SDK-call function makes one SSM call per stack create; its memory is aws-cdk-lib's choice",
            ),
            cdk.Acknowledgment(
                id="Serverless::Serverless-LambdaDLQ",
                reason="CDK's SDK-call function is a custom resource: CloudFormation gets its failure directly",
            ),
            cdk.Acknowledgment(
                id="Serverless::Serverless-LambdaTracing",
                reason="CDK's SDK-call function runs once per stack create; tracing it would show one SSM call",
            ),
        )
        skip_checkov_for_cdk_helper_function(
            provider.node.find_child("Resource"), name="CDK's SDK-call function", calls="one public SSM parameter read"
        )


class NotificationNetwork(Construct):
    """A two-AZ VPC with private subnets that reach the internet through one NAT.

    :param egress: ``nat-instance`` or ``nat-gateway`` (see the module docstring).
    :param log_retention: retention of the VPC flow log's log group.
    :param nat_instance_image_id: the NAT instance's image; None resolves the latest Amazon Linux 2023
        arm64 image once, at create (:class:`NatImage`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        egress: str,
        log_retention: logs.RetentionDays,
        nat_instance_image_id: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.nat_instance_provider: ec2.NatInstanceProviderV2 | None = None
        self.nat_image: NatImage | None = None
        if egress == "nat-instance":
            if nat_instance_image_id is None:
                self.nat_image = NatImage(self, "NatImage", log_retention=log_retention)
            self.nat_instance_provider = ec2.NatProvider.instance_v2(
                instance_type=ec2.InstanceType(NAT_INSTANCE_TYPE),
                machine_image=_FixedLinuxImage(nat_instance_image_id or self.nat_image.image_id),  # type: ignore[union-attr]
                default_allowed_traffic=ec2.NatTrafficDirection.OUTBOUND_ONLY,
                associate_public_ip_address=True,
            )
            nat_provider: ec2.NatProvider = self.nat_instance_provider
        else:
            nat_provider = ec2.NatProvider.gateway()
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=MAX_AZS,
            nat_gateways=1,
            nat_gateway_provider=nat_provider,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="Private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
            ],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        if self.nat_instance_provider is not None:
            # Forward traffic from inside the VPC only; nothing from the internet may open a connection.
            self.nat_instance_provider.connections.allow_from(
                ec2.Peer.ipv4(VPC_CIDR), ec2.Port.all_traffic(), "NAT for the VPC's private subnets"
            )
            for instance in self.nat_instance_provider.gateway_instances:
                # The L2 NAT provider has no block-device option: encrypt the root volume on the L1.
                cfn_instance = instance.node.default_child
                if not isinstance(cfn_instance, ec2.CfnInstance):
                    raise TypeError(f"expected the NAT instance's CfnInstance, got {type(cfn_instance).__name__}")
                cfn_instance.add_property_override(
                    "BlockDeviceMappings", [{"DeviceName": ROOT_DEVICE, "Ebs": {"Encrypted": True, "VolumeType": "gp3"}}]
                )
                skip_checkov(
                    cfn_instance,
                    "CKV_AWS_88",
                    "A NAT instance needs a public IP to forward the private subnets' traffic to the internet "
                    "(the Management API has no VPC endpoint); its security group admits only the VPC's own range",
                )
                cdk.Validations.of(instance).acknowledge(
                    cdk.Acknowledgment(
                        id="AwsSolutions::AwsSolutions-EC26",
                        reason="The root volume IS encrypted, through a BlockDeviceMappings property override (the "
                        "NAT provider has no block-device option); cdk-nag reads the L1 props and misses overrides",
                    ),
                    cdk.Acknowledgment(
                        id="AwsSolutions::AwsSolutions-EC28",
                        reason="A t4g.nano NAT instance: detailed monitoring would cost more than the instance; the "
                        "function's FailedDeliveries and ServiceFailures alarms show when egress stops",
                    ),
                    cdk.Acknowledgment(
                        id="AwsSolutions::AwsSolutions-EC29",
                        reason="The NAT instance is stateless and replaceable: CloudFormation recreates it; "
                        "termination protection would block stack updates that replace it",
                    ),
                )
        self.flow_log_group = logs.LogGroup(
            self, "FlowLogs", retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY,
            encryption_key=DataEncryptionKey.of(self).key,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

    @property
    def private_subnets(self) -> ec2.SubnetSelection:
        """The subnets the function and the database use (egress through the NAT)."""
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)


def import_vpc_and_subnets(
    scope: Construct, *, vpc_id: str, subnet_ids: Sequence[str], used_for: str
) -> tuple[ec2.IVpc, list[ec2.ISubnet]]:
    """An existing VPC and subnets, by id only: no synth-time lookups (synth never calls AWS).

    Only the ids reach the template, so the VPC's AZ list and the subnets' route tables are never
    needed; the warnings CDK gives for them are acknowledged. ``used_for`` says what the subnets
    carry (in the acknowledgement).
    """
    vpc = ec2.Vpc.from_vpc_attributes(scope, "Vpc", vpc_id=vpc_id, availability_zones=cdk.Fn.get_azs())
    cdk.Annotations.of(vpc).acknowledge_warning(
        "@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones",
        "Subnets are given by id, so the VPC's AZ list is never needed at synth",
    )
    subnets = [ec2.Subnet.from_subnet_id(scope, f"Subnet{i}", s) for i, s in enumerate(subnet_ids)]
    for subnet in subnets:
        cdk.Annotations.of(subnet).acknowledge_warning(
            "@aws-cdk/aws-ec2:noSubnetRouteTableId", f"Only the subnet id is used (for {used_for})"
        )
    return vpc, subnets
