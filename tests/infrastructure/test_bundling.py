"""Real bundling: pip installs the arm64 wheels into the asset, Python 3.14 compiles it all (slow)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cdk_app import bundling
from cdk_app.application import STACK_ID, build_app
from cdk_app.bundling import LAMBDA_TASK_ROOT, PYTHON_VERSION, BundlingError, PipLocalBundling, python314_command

from .conftest import project_context

CACHE_TAG = f"cpython-{PYTHON_VERSION.replace('.', '')}"
UNCHECKED_HASH_FLAGS = 0b01  # PEP 552: hash-based, source not checked

MAX_ASSET_BYTES = 40 * 1024 * 1024
ELF_MACHINES = {"arm64": 183, "x86_64": 62}  # EM_AARCH64, EM_X86_64


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path.name} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


def python314(*args: str, mounts: tuple[Path, ...] = (), env: dict[str, str] | None = None) -> str:
    """Stdout of the bundler's Python 3.14 running ``args``; fails the test with its stderr."""
    result = subprocess.run(python314_command(*args, mounts=mounts, env=env), capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def synth_bundled(outdir: Path) -> tuple[Path, dict]:
    """Synthesize the default stack with real bundling into ``outdir``: (asset directory, template)."""
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


@pytest.fixture(scope="module")
def bundled_asset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    return synth_bundled(tmp_path_factory.mktemp("cdk-bundled"))


@pytest.fixture(scope="module")
def magic_number() -> bytes:
    """``importlib.util.MAGIC_NUMBER`` as the bundler's Python 3.14 reports it."""
    out = python314("-c", "import importlib.util, sys; print(sys.version_info[:2], importlib.util.MAGIC_NUMBER.hex())")
    version, magic = out.strip().rsplit(" ", 1)
    assert version == str(tuple(int(n) for n in PYTHON_VERSION.split(".")))
    return bytes.fromhex(magic)


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
def test_asset_has_no_tests_foreign_bytecode_or_boto3_and_is_small(bundled_asset: tuple[Path, dict]) -> None:
    asset, _template = bundled_asset
    files = [p for p in asset.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in (".pyo", ".db")]
    foreign = [p for p in files if p.suffix == ".pyc" and not p.name.endswith(f".{CACHE_TAG}.pyc")]
    assert not foreign, f"bytecode of another Python (from the synth machine?): {foreign[:5]}"
    assert not [p for p in asset.rglob("tests") if p.is_dir()]
    assert not (asset / "boto3").exists(), "boto3 comes with the Lambda runtime and must not be bundled"
    # exactly the pinned requirements: nothing pip would add for the Python running the synth
    distributions = sorted(p.name.split("-")[0] for p in asset.glob("*.dist-info"))
    assert distributions == ["psycopg", "psycopg_binary"]
    assert sum(p.stat().st_size for p in files) < MAX_ASSET_BYTES


@pytest.mark.bundling
def test_every_module_has_unchecked_python_3_14_bytecode(bundled_asset: tuple[Path, dict], magic_number: bytes) -> None:
    asset, _template = bundled_asset
    sources = sorted(asset.rglob("*.py"))
    assert len(sources) > 50  # our package and psycopg's
    missing, wrong = [], []
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{CACHE_TAG}.pyc"
        if not pyc.is_file():
            missing.append(source.relative_to(asset))
            continue
        header = pyc.read_bytes()[:16]
        if header[:4] != magic_number or int.from_bytes(header[4:8], "little") != UNCHECKED_HASH_FLAGS:
            wrong.append((source.relative_to(asset), header[:8].hex()))
    assert not missing, f"modules without {CACHE_TAG} bytecode: {missing[:10]}"
    assert not wrong, f"bytecode with another magic number or timestamp/checked mode: {wrong[:10]}"
    pycs = list(asset.rglob("*.pyc"))
    assert len(pycs) == len(sources), "bytecode without its source module"


@pytest.mark.bundling
def test_python_3_14_imports_the_read_only_asset_without_compiling(
        bundled_asset: tuple[Path, dict], tmp_path: Path) -> None:
    """As on Lambda: a read-only copy, PYTHONDONTWRITEBYTECODE=1; the importer must compile nothing.

    Every module's code is loaded through the importer's own path (``SourceFileLoader.get_code``) with
    compiling from source made to fail, and the handler is imported for real (psycopg itself cannot be
    executed in this interpreter: its libpq is a native library, so its modules are loaded, not run).
    """
    asset, _template = bundled_asset
    task = tmp_path / "task"
    shutil.copytree(asset, task)
    for path in [task, *task.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    before = sorted((str(p.relative_to(task)), p.stat().st_size) for p in task.rglob("*"))
    probe = f"""
import importlib.machinery, importlib.util, importlib._bootstrap_external as external, json, marshal, sys
from pathlib import Path
compiled = []
def refuse(self, data, path, *args, **kwargs):
    compiled.append(str(path))
    raise ImportError(f"compiled from source: {{path}}")
external.SourceLoader.source_to_code = refuse
task = Path({str(task)!r})
sys.path.insert(0, str(task))
loaded, names = 0, set()
for source in sorted(task.rglob("*.py")):
    parts = source.relative_to(task).with_suffix("").parts
    name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    importlib.machinery.SourceFileLoader(name, str(source)).get_code(name)
    loaded += 1
    raw = Path(importlib.util.cache_from_source(str(source))).read_bytes()  # as compiled, before the importer
    names.add(marshal.loads(raw[16:]).co_filename)                        # points it at the file it read
import websocket_service.handler
print(json.dumps({{"dont_write_bytecode": sys.flags.dont_write_bytecode, "loaded": loaded, "compiled": compiled,
                  "filenames": sorted(names), "handler": websocket_service.handler.__file__}}))
"""
    report = json.loads(python314("-c", probe, mounts=(task,), env={"PYTHONDONTWRITEBYTECODE": "1"}).splitlines()[-1])
    assert report["dont_write_bytecode"] == 1
    assert report["compiled"] == []
    assert report["loaded"] == len(list(task.rglob("*.py")))
    assert [name for name in report["filenames"] if not name.startswith(f"{LAMBDA_TASK_ROOT}/")] == []
    assert report["handler"] == str(task / "websocket_service" / "handler.py")
    assert sorted((str(p.relative_to(task)), p.stat().st_size) for p in task.rglob("*")) == before


@pytest.mark.bundling
def test_two_synths_of_the_same_input_give_the_same_asset_hash(
        bundled_asset: tuple[Path, dict], tmp_path: Path) -> None:
    asset, _template = bundled_asset
    again, _ = synth_bundled(tmp_path / "again")
    assert again.name == asset.name


@pytest.mark.bundling
def test_the_x86_64_asset_carries_the_same_bytecode_as_the_arm64_one(
        bundled_asset: tuple[Path, dict], tmp_path: Path) -> None:
    """One interpreter (WebAssembly) compiles for both architectures: same sources, same bytes."""
    arm, _template = bundled_asset
    x86 = tmp_path / "x86_64"
    x86.mkdir()
    assert PipLocalBundling(architecture="x86_64").try_bundle(str(x86), None)  # type: ignore[arg-type]
    for extension in (x86 / "psycopg_binary").glob("*.so"):
        assert elf_machine(extension) == ELF_MACHINES["x86_64"]
    arm_pycs = sorted(p.relative_to(arm) for p in arm.rglob("*.pyc"))
    assert arm_pycs == sorted(p.relative_to(x86) for p in x86.rglob("*.pyc"))
    same_source = [pyc for pyc in arm_pycs
                   if (arm / pyc.parent.parent / f"{pyc.name.split('.')[0]}.py").read_bytes()
                   == (x86 / pyc.parent.parent / f"{pyc.name.split('.')[0]}.py").read_bytes()]
    assert len(same_source) > 50
    assert [pyc for pyc in same_source if (arm / pyc).read_bytes() != (x86 / pyc).read_bytes()] == []


def test_bundling_fails_naming_make_setup_before_pip_when_python_3_14_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundling, "PYODIDE_WASM", tmp_path / "not-installed" / "pyodide.asm.wasm")
    out = tmp_path / "asset"
    out.mkdir()
    with pytest.raises(BundlingError) as error:
        PipLocalBundling(architecture="arm64").try_bundle(str(out), None)  # type: ignore[arg-type]
    message = str(error.value)
    assert "\n" not in message and "`make setup`" in message and PYTHON_VERSION in message
    assert list(out.iterdir()) == [], "nothing is bundled without the interpreter that compiles it"


def test_synth_without_python_3_14_fails_with_one_line_naming_make_setup(tmp_path: Path) -> None:
    """app.py as the CDK CLI runs it, with the pinned interpreter absent: no traceback, no assembly."""
    missing = tmp_path / "not-installed" / "pyodide.asm.wasm"
    runner = ("import runpy, sys; from pathlib import Path; import cdk_app.bundling as b; "
              f"b.PYODIDE_WASM = Path({str(missing)!r}); runpy.run_path('app.py', run_name='__main__')")
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(project_context(bundle=True)), "CDK_OUTDIR": str(tmp_path / "out"),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run([sys.executable, "-c", runner], cwd=bundling.PROJECT_ROOT, env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if "make setup" in line]
    assert len(errors) == 1 and f"Python {PYTHON_VERSION}" in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_the_bytecode_compiler_is_python_3_14_pinned_in_package_json() -> None:
    package = json.loads((bundling.PROJECT_ROOT / "package.json").read_text())
    pin = package["devDependencies"]["pyodide"]
    assert pin.startswith(PYTHON_VERSION.replace(".", "") + ".") and pin.replace(".", "").isdigit(), pin
    assert bundling.PYODIDE_WASM.is_file(), "run `make setup`"


def test_pip_command_targets_the_functions_platform_and_python() -> None:
    arm = PipLocalBundling(architecture="arm64").pip_command("/out")
    assert arm[arm.index("--python-version") + 1] == PYTHON_VERSION
    assert {"manylinux_2_28_aarch64", "manylinux2014_aarch64"} <= set(arm)
    assert "--only-binary=:all:" in arm and "--no-compile" in arm and "--no-deps" in arm
    assert arm[arm.index("--target") + 1] == "/out"
    x86 = PipLocalBundling(architecture="x86_64").pip_command("/out")
    assert "manylinux2014_x86_64" in x86 and "manylinux2014_aarch64" not in x86
