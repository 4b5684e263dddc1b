"""One version: ``__version__`` in ``jupyter_container_kernels/__init__.py`` (hatch reads it for
the wheel) is the single source; ``labextension/package.json`` must say the same, and a release
has its section in ``CHANGELOG.md``. Reads files only (no build, no Node)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
# PEP 440 pre-release letters as npm (semver) spells them: 1.2.0a1 <-> 1.2.0-alpha.1.
NPM_PRE = {"a": "alpha", "b": "beta", "rc": "rc"}


def python_version() -> str:
    text = (ROOT / "jupyter_container_kernels" / "__init__.py").read_text()
    found = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    assert found, 'jupyter_container_kernels/__init__.py must set __version__ = "X.Y.Z"'
    return found.group(1)


def npm_version(version: Version) -> str:
    """The package.json spelling of a PEP 440 version of the form MAJOR.MINOR.PATCH[{a|b|rc}N]."""
    base = ".".join(str(part) for part in version.release)
    if version.pre:
        letter, number = version.pre
        return f"{base}-{NPM_PRE[letter]}.{number}"
    return base


def test_the_version_is_major_minor_patch_with_an_optional_pre_release() -> None:
    text = python_version()
    version = Version(text)
    assert str(version) == text, f"{text!r} is not in PEP 440 normal form ({version})"
    assert len(version.release) == 3, f"{text!r}: use MAJOR.MINOR.PATCH"
    assert not (version.dev or version.post or version.local or version.epoch), (
        f"{text!r}: only a{{N}}, b{{N}} or rc{{N}} may follow MAJOR.MINOR.PATCH"
    )


def test_the_labextension_has_the_same_version() -> None:
    version = Version(python_version())
    package = json.loads((ROOT / "labextension" / "package.json").read_text())
    assert package["version"] == npm_version(version), (
        f"labextension/package.json says {package['version']!r}, __version__ says "
        f"{python_version()!r}: set it to {npm_version(version)!r}"
    )


def test_a_release_has_its_changelog_section() -> None:
    version = Version(python_version())
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(r"^## \[Unreleased\]", changelog, re.M), "keep an Unreleased section"
    if not version.is_prerelease:
        assert re.search(
            rf"^## \[{re.escape(str(version))}\] - \d{{4}}-\d{{2}}-\d{{2}}", changelog, re.M
        ), f"CHANGELOG.md has no '## [{version}] - YYYY-MM-DD' section"


def test_npm_spelling_of_pre_releases() -> None:
    assert npm_version(Version("1.2.0")) == "1.2.0"
    assert npm_version(Version("1.2.0a1")) == "1.2.0-alpha.1"
    assert npm_version(Version("1.2.0rc2")) == "1.2.0-rc.2"
