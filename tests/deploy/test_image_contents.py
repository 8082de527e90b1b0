"""What the Dockerfile installs: a regular (not editable) install of the files it copies.
Every file of the import roots must land in the installed packages: the migrations, which
are not a package, went missing and the node could not create its schema in the image."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.deploy.support import ROOT

#: what the Dockerfile's build stage copies (besides the import roots)
COPIED_FILES = ("pyproject.toml", "setup.py", "README.md")


def _tracked(folder: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--", folder], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


def test_a_regular_install_holds_every_file_of_the_import_roots(tmp_path: Path) -> None:
    roots: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["yui"][
        "import-names"
    ]
    dockerfile = (ROOT / "Dockerfile").read_text()
    context = tmp_path / "context"
    for name in COPIED_FILES:
        assert f"COPY {' '.join(COPIED_FILES)} ./" in dockerfile
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, context / name)
    expected = []
    for name, folder in roots.items():
        top = folder.split("/")[0]
        assert f"COPY {top} ./{top}" in dockerfile, top
        for relative in _tracked(folder):
            (context / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / relative, context / relative)
            expected.append(name + relative[len(folder) :])
    built = tmp_path / "lib"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(built)],
        cwd=context,
        capture_output=True,
        check=True,
    )
    missing = [path for path in expected if not (built / path).is_file()]
    assert missing == []
