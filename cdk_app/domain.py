"""Optional custom domain for the WebSocket URL (``wss://ws.example.com``).

An API Gateway regional custom domain with the given ACM certificate (in the stack's region), mapped
to the API's stage at the root path, and, with a Route 53 hosted zone, an alias A record. Clients
use the custom URL; the function keeps posting to the execute-api management endpoint (API
Gateway's ``@connections`` API does not answer on custom domains: 403).
"""
from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from constructs import Construct

from cdk_app.settings import SettingsError


def certificate_region(certificate_arn: str) -> str:
    """The region part of an ACM certificate ARN (``arn:PARTITION:acm:REGION:ACCOUNT:certificate/ID``)."""
    return certificate_arn.split(":")[3]


class CustomDomain(Construct):
    """Maps ``domain_name`` to the stage; optionally creates the alias record.

    :param api: the WebSocket API.
    :param stage: the stage clients connect to.
    :param domain_name: e.g. ``ws.example.com``.
    :param certificate_arn: ACM certificate in the stack's region that covers ``domain_name``.
    :param hosted_zone_id: Route 53 zone that holds ``domain_name``; None: create the DNS record
        yourself (a CNAME to the ``DomainNameTarget`` output).
    :param hosted_zone_name: that zone's domain (``example.com``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigwv2.IWebSocketApi,
        stage: apigwv2.IWebSocketStage,
        domain_name: str,
        certificate_arn: str,
        hosted_zone_id: str | None = None,
        hosted_zone_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._require_certificate_in_stack_region(certificate_arn)
        certificate = acm.Certificate.from_certificate_arn(self, "Certificate", certificate_arn)
        self.domain_name = apigwv2.DomainName(
            self,
            "DomainName",
            domain_name=domain_name,
            certificate=certificate,
            security_policy=apigwv2.SecurityPolicy.TLS_1_2,
        )
        self.mapping = apigwv2.ApiMapping(self, "Mapping", api=api, domain_name=self.domain_name, stage=stage)
        self.websocket_url = f"wss://{domain_name}"
        """The client URL on the custom domain (the stage is mapped at the root path)."""
        self.record: route53.ARecord | None = None
        if hosted_zone_id and hosted_zone_name:
            zone = route53.HostedZone.from_hosted_zone_attributes(
                self, "Zone", hosted_zone_id=hosted_zone_id, zone_name=hosted_zone_name
            )
            self.record = route53.ARecord(
                self,
                "Alias",
                zone=zone,
                record_name=domain_name,
                target=route53.RecordTarget.from_alias(
                    route53_targets.ApiGatewayv2DomainProperties(
                        self.domain_name.regional_domain_name, self.domain_name.regional_hosted_zone_id
                    )
                ),
            )

    def _require_certificate_in_stack_region(self, certificate_arn: str) -> None:
        """A regional custom domain needs its certificate in the stack's region.

        Known region (``build_app(region=...)``): refused at synth. Always: a template ``Rules``
        assertion, so CloudFormation refuses the deploy before it creates anything, instead of
        failing at ``DomainName`` about 15 minutes in, after the database was created.
        """
        region = certificate_region(certificate_arn)
        stack = cdk.Stack.of(self)
        if not cdk.Token.is_unresolved(stack.region) and stack.region != region:
            raise SettingsError(
                f"certificateArn is in {region} but the stack deploys to {stack.region}: API Gateway's regional "
                f"custom domain needs an ACM certificate in {stack.region} (request or import one there)"
            )
        self.certificate_rule = cdk.CfnRule(
            stack,
            "CertificateInStackRegion",
            assertions=[
                cdk.CfnRuleAssertion(
                    assert_=cdk.Fn.condition_equals(region, cdk.Aws.REGION),
                    assert_description=f"certificateArn is in {region}: deploy this stack to {region}, or use an ACM "
                    "certificate of the stack's region (API Gateway's regional custom domain needs one there)",
                )
            ],
        )

    @property
    def target(self) -> str:
        """The regional host name DNS must point ``domain_name`` at (CNAME or alias)."""
        return self.domain_name.regional_domain_name
