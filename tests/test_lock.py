"""The lock file is what `make demo`, `make test` and `.ci/run` install: it must pin every
dependency that pyproject.toml names, inside pyproject's range, and the running environment
must be the locked one (otherwise the suite tests versions nobody locked)."""
from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"

_PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def parse_lock(text: str) -> dict[str, list[tuple[str, str | None]]]:
    """name -> [(version, marker or None)] from a pip-compile / uv lock file.

    >>> parse_lock("numpy==2.1.0 \\\\\\n    --hash=sha256:ab\\nfoo==1 ; python_version < '3.12'\\n")
    {'numpy': [('2.1.0', None)], 'foo': [('1', "python_version < '3.12'")]}
    """
    pins: dict[str, list[tuple[str, str | None]]] = {}
    for line in text.splitlines():
        m = _PIN.match(line.strip())
        if m:
            name = canonicalize_name(m.group(1).split("[")[0])
            pins.setdefault(name, []).append((m.group(2), m.group(3)))
    return pins


def _project_requirements() -> list[Requirement]:
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(proj["dependencies"]) + list(proj["optional-dependencies"]["dev"])
    return [Requirement(r) for r in reqs]


def _active_pin(pins, name):
    for version, marker in pins.get(name, []):
        if marker is None or Marker(marker).evaluate():
            return version
    return None


@pytest.fixture(scope="module")
def pins():
    if not LOCK.exists():
        pytest.fail(f"{LOCK.name} is missing: run `make lock`")
    return parse_lock(LOCK.read_text())


def test_lock_pins_every_declared_dependency_inside_its_range(pins):
    problems = []
    for req in _project_requirements():
        if req.marker is not None and not req.marker.evaluate():
            continue
        version = _active_pin(pins, canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name}: not in {LOCK.name}")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}: locked {version} is outside pyproject's {req.specifier}")
    assert not problems, "run `make lock`:\n" + "\n".join(problems)


def test_every_locked_pin_carries_a_hash():
    text = LOCK.read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    unhashed = [b.split()[0] for b in blocks if "==" in b.split("\n")[0] and "--hash=sha256:" not in b]
    assert not unhashed, f"pins without a hash: {unhashed}"


def test_the_running_environment_is_the_locked_one(pins):
    drift = []
    for name in sorted(pins):
        want = _active_pin(pins, name)
        if want is None:
            continue
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            drift.append(f"{name}: locked {want}, not installed")
            continue
        if canonicalize_name(have) != canonicalize_name(want) and have != want:
            drift.append(f"{name}: locked {want}, installed {have}")
    assert not drift, "the venv is not the locked one (`make venv` after `rm .venv/.installed-stamp`):\n" + "\n".join(drift)
