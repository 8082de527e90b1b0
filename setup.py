"""Expands the import-name map of pyproject.toml ([tool.yui.import-names]) into packages.

A folder with a hyphen (services/safety-check) cannot be found by setuptools' own
discovery, so the map is the single source and this file only walks it.
"""

import tomllib
from pathlib import Path

from setuptools import find_packages, setup

roots: dict[str, str] = tomllib.loads(Path("pyproject.toml").read_text("utf-8"))["tool"]["yui"][
    "import-names"
]
packages: list[str] = []
for name, folder in roots.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]

setup(package_dir=roots, packages=packages)
