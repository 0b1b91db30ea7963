"""SECURITY.md "The local gateway": ``wsctl local`` listens on loopback unless told otherwise."""
from __future__ import annotations

import ipaddress

from wsctl.cli import build_parser


def test_wsctl_local_listens_on_loopback_by_default() -> None:
    args = build_parser().parse_args(["local"])
    assert ipaddress.ip_address(args.host).is_loopback
