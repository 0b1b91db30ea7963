"""The function's code asset: local bundling with pip (no Docker), or the plain source for tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from cdk_app.runtime_contract import LAMBDA_SOURCE_DIR, PACKAGE_NAME, REQUIREMENTS_FILE

PYTHON_RUNTIME = lambda_.Runtime.PYTHON_3_14
"""The newest Python runtime aws-cdk-lib offers; :data:`PYTHON_VERSION` must match it."""
PYTHON_VERSION = "3.14"

PIP_PLATFORMS: dict[str, tuple[str, ...]] = {
    "arm64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
    "x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
}
"""Wheel platform tags pip may pick for each Lambda architecture (Amazon Linux 2023, glibc 2.34)."""

IGNORED_PATTERNS = ("__pycache__", "*.pyc", "*.pyo", "tests", ".pytest_cache", "*.db")
"""Never shipped: caches, tests and local SQLite files."""

_PLACEHOLDER_IMAGE = "public.ecr.aws/sam/build-python3.14"


class BundlingError(RuntimeError):
    """pip could not install the function's requirements for the target platform."""


@jsii.implements(cdk.ILocalBundling)
class PipLocalBundling:
    """Bundles the function on this machine: copies the package and pip-installs its requirements.

    pip downloads only binary wheels built for the function's platform (``--platform``,
    ``--only-binary=:all:``), so psycopg's compiled driver matches Lambda even when synthesizing
    on another OS or CPU. ``--no-compile`` keeps ``__pycache__`` out of the asset. ``--no-deps``
    installs exactly the pinned requirements: pip evaluates dependency markers against the Python
    running the synth, not the function's, so it would add ``typing_extensions`` (needed by psycopg
    only below Python 3.13) to a 3.14 function.
    """

    def __init__(self, *, architecture: str, source_dir: Path = LAMBDA_SOURCE_DIR) -> None:
        self.architecture = architecture
        self.source_dir = source_dir

    def pip_command(self, output_dir: str) -> list[str]:
        """The pip invocation that installs the requirements into ``output_dir``."""
        platforms = [arg for tag in PIP_PLATFORMS[self.architecture] for arg in ("--platform", tag)]
        return [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            *platforms, "--python-version", PYTHON_VERSION, "--implementation", "cp", "--only-binary=:all:",
            "--no-deps",  # the requirements file pins every package; pip would judge markers on this Python
            "--target", output_dir, "-r", str(self.source_dir / REQUIREMENTS_FILE.name),
        ]

    def try_bundle(self, output_dir: str, options: cdk.BundlingOptions) -> bool:  # noqa: ARG002 (jsii signature)
        """Copy the package into ``output_dir`` and install its requirements there; True when done.

        ``options`` (the Docker bundling options) is unused: bundling never falls back to Docker.
        """
        shutil.copytree(
            self.source_dir / PACKAGE_NAME,
            Path(output_dir) / PACKAGE_NAME,
            ignore=shutil.ignore_patterns(*IGNORED_PATTERNS),
            dirs_exist_ok=True,
        )
        result = subprocess.run(
            self.pip_command(output_dir),
            capture_output=True,
            text=True,
            env={**os.environ, "PIP_NO_INPUT": "1"},
            check=False,
        )
        if result.returncode != 0:
            raise BundlingError(
                f"pip could not install {REQUIREMENTS_FILE.name} for {self.architecture} / Python {PYTHON_VERSION} "
                f"(exit {result.returncode}); check network access to PyPI and that every requirement has a "
                f"manylinux wheel:\n{result.stderr.strip()}"
            )
        return True


def function_code(*, architecture: str, bundle: bool) -> lambda_.Code:
    """The function's code: bundled with pip when ``bundle`` is true, else the bare source.

    The bare source (no dependencies) keeps synth fast for tests that only inspect the template;
    deploy only bundled assets.
    """
    excludes = [*IGNORED_PATTERNS]
    if not bundle:
        return lambda_.Code.from_asset(str(LAMBDA_SOURCE_DIR), exclude=excludes)
    return lambda_.Code.from_asset(
        str(LAMBDA_SOURCE_DIR),
        exclude=excludes,
        bundling=cdk.BundlingOptions(
            image=cdk.DockerImage.from_registry(_PLACEHOLDER_IMAGE),
            local=PipLocalBundling(architecture=architecture),
        ),
    )
