"""Installs are reproducible: requirements.lock pins every dependency, and the tests run on the locked versions."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_name(name)] = version
    return pins


def test_every_dependency_of_pyproject_is_pinned_in_the_lock():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    assert sorted(wanted - set(_lock())) == []


def test_the_installed_versions_are_the_locked_ones():
    differ = {}
    for name, version in _lock().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # pinned for an extra this environment does not install
        if installed != version:
            differ[name] = f"installed {installed}, locked {version}"
    assert differ == {}, "run `bash scripts/lock.sh` after changing dependencies, or reinstall with scripts/env.sh"
