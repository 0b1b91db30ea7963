"""Chaos, test size: JS clients in Node (and a sample in headless Chromium) through ``wsctl local``
with a 5 s idle timeout, connections deleted through ``@connections``, the gateway restarted once
and notifies at random moments (clients/js/chaos/run.js). Every message must reach its app exactly
once. Latency is not asserted here (a shared machine says nothing about speed): ``bench/chaos.py``
reports it against a bare ``websockets`` push measured in the same run."""
from __future__ import annotations

import json

import pytest

from tests.node_run import run_node

TEST_SIZE = ["--clients", "200", "--browser", "5", "--notifies", "300", "--seconds", "15", "--idle-timeout", "5",
             "--deletes-per-second", "2", "--drain-seconds", "30", "--bare-samples", "100"]

pytestmark = pytest.mark.e2e


def test_every_message_reaches_its_app_exactly_once_through_chaos() -> None:
    run = run_node(["clients/js/chaos/run.js", *TEST_SIZE], timeout_s=300)
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["restarted"] is True and result["deletes"] > 0 and result["reconnects"] > 0, result
    assert result["notifyFailures"] == 0, result
    assert result["sent"] == 300
    assert result["keptWhileAway"] > 0, result  # some messages really were sent while their client was away
    assert (result["delivered"], result["duplicates"], result["strays"]) == (result["sent"], 0, 0), result
    assert result["browserSent"] > 0 and result["browserDelivered"] == result["browserSent"], result
