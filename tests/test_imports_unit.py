"""The import graph of rcache has no cycles (rcache.verify.imports), and the check finds one."""

import subprocess
import sys
from pathlib import Path

from rcache.verify.imports import cycles, module_names

ROOT = Path(__file__).resolve().parent.parent


def test_rcache_has_no_import_cycle():
    run = subprocess.run([sys.executable, "-m", "rcache.verify.imports"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.stdout.splitlines()[0] == "import cycles of module-level imports: 0", run.stdout
    assert "import cycles that need a function-level import: 0" in run.stdout, run.stdout
    assert run.returncode == 0


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_cycles_are_found_and_told_apart(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from .b import x\n",
        "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import y\n",
        "c.py": "def later():\n    from . import d\n",
        "d.py": "from .c import later\n",
        "leaf.py": "import os\n",
    })
    module_groups, function_groups = cycles(module_names(root))
    assert module_groups == [["pkg.a", "pkg.b"]]
    assert function_groups == [["pkg.c", "pkg.d"]]


def test_a_package_runs_its_init_first(tmp_path):
    """Importing pkg.sub.table runs pkg/sub/__init__.py, which here imports the importer."""
    root = _package(tmp_path, {
        "__init__.py": "",
        "runtime.py": "from .sub.table import lookup\n",
        "sub/__init__.py": "from . import family\n",
        "sub/table.py": "",
        "sub/family.py": "from .table import lookup\nfrom ..runtime import x\n",
    })
    module_groups, _ = cycles(module_names(root))
    assert module_groups == [["pkg.runtime", "pkg.sub", "pkg.sub.family"]]
