"""Run a Node.js script of the JS clients as the tests do, without leaving its children behind."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_node(args: list[str], *, timeout_s: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``node *args`` in the repository root, output captured, in a process group of its own.

    The scripts start ``wsctl local`` (and Chromium) themselves. When Node dies before its cleanup
    runs (the timeout here, or a crash), those would be orphaned and keep their ports; the whole
    group is killed afterwards instead, whatever happened. Fails the test when node is missing.
    """
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: install Node.js 20+", pytrace=False)
    process = subprocess.Popen([node, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"node {' '.join(args)} did not finish within {timeout_s:g} s:\n{out[-4000:]}\n{err[-4000:]}")
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # anything it started and left running
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
