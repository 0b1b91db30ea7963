"""Real bundling: pip installs the arm64 wheels into the asset, with no tests or caches (slow)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdk_app.application import STACK_ID, build_app
from cdk_app.bundling import PipLocalBundling, PYTHON_VERSION

from .conftest import project_context

MAX_ASSET_BYTES = 40 * 1024 * 1024
ELF_MACHINES = {"arm64": 183, "x86_64": 62}  # EM_AARCH64, EM_X86_64


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path.name} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


@pytest.fixture(scope="module")
def bundled_asset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    outdir = tmp_path_factory.mktemp("cdk-bundled")
    app, _stack = build_app(context=project_context(bundle=True), outdir=str(outdir), compliance_checks=False)
    app.synth()
    template = json.loads((outdir / f"{STACK_ID}.template.json").read_text())
    functions = [  # the route and ops functions, not the custom-resource helpers
        r for k, r in template["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and k.startswith(("HandlerFunction", "RouteHandlerFunction"))
    ]
    (s3_key,) = {f["Properties"]["Code"]["S3Key"] for f in functions}  # route and ops functions: one asset
    assert len(functions) == 2
    asset_hash = s3_key.removesuffix(".zip")
    return outdir / f"asset.{asset_hash}", template


@pytest.mark.bundling
def test_asset_holds_the_package_and_the_arm64_psycopg_binary(bundled_asset: tuple[Path, dict]) -> None:
    asset, _template = bundled_asset
    assert (asset / "websocket_service" / "handler.py").is_file()
    assert (asset / "websocket_service" / "config.py").is_file()
    assert (asset / "websocket_service" / "shared_defaults.json").is_file()  # config.py reads it at import
    assert (asset / "psycopg" / "__init__.py").is_file()
    extensions = sorted((asset / "psycopg_binary").glob("*.so"))
    assert extensions, "psycopg_binary has no compiled modules"
    for extension in extensions:
        assert f"cpython-{PYTHON_VERSION.replace('.', '')}-aarch64-linux-gnu" in extension.name
        assert elf_machine(extension) == ELF_MACHINES["arm64"]


@pytest.mark.bundling
def test_asset_has_no_tests_caches_or_boto3_and_is_small(bundled_asset: tuple[Path, dict]) -> None:
    asset, _template = bundled_asset
    files = [p for p in asset.rglob("*") if p.is_file()]
    assert not [p for p in asset.rglob("__pycache__")]
    assert not [p for p in files if p.suffix in (".pyc", ".pyo", ".db")]
    assert not [p for p in asset.rglob("tests") if p.is_dir()]
    assert not (asset / "boto3").exists(), "boto3 comes with the Lambda runtime and must not be bundled"
    # exactly the pinned requirements: nothing pip would add for the Python running the synth
    distributions = sorted(p.name.split("-")[0] for p in asset.glob("*.dist-info"))
    assert distributions == ["psycopg", "psycopg_binary"]
    assert sum(p.stat().st_size for p in files) < MAX_ASSET_BYTES


def test_pip_command_targets_the_functions_platform_and_python() -> None:
    arm = PipLocalBundling(architecture="arm64").pip_command("/out")
    assert arm[arm.index("--python-version") + 1] == PYTHON_VERSION
    assert {"manylinux_2_28_aarch64", "manylinux2014_aarch64"} <= set(arm)
    assert "--only-binary=:all:" in arm and "--no-compile" in arm and "--no-deps" in arm
    assert arm[arm.index("--target") + 1] == "/out"
    x86 = PipLocalBundling(architecture="x86_64").pip_command("/out")
    assert "manylinux2014_x86_64" in x86 and "manylinux2014_aarch64" not in x86
