"""The layering is enforced: import-linter's contracts in pyproject.toml hold, and a forbidden import breaks them.

The project's folders are mapped onto one package (``styledex.embed`` is ``embed/``…, pyproject.toml's
``package-dir``), which an editable install resolves with an import hook that import-linter's graph builder does
not follow. So the contracts are checked over a copy laid out as an installed package would be: each mapped
folder's modules copied under ``styledex/``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = REPO / "pyproject.toml"


def _package_sources() -> dict[str, Path]:
    """Each package of pyproject.toml's explicit ``packages`` list → the folder its modules are in."""
    setuptools = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"]
    package_dirs = setuptools["package-dir"]
    sources = {}
    for package in setuptools["packages"]:
        # A package not mapped itself lies under its parent's mapped folder (styledex.evaluation in styledex/).
        parent = max((p for p in package_dirs if package == p or package.startswith(p + ".")), key=len)
        sources[package] = REPO / package_dirs[parent] / package[len(parent) + 1 :].replace(".", "/")
    return sources


def lay_out_package(target: Path) -> Path:
    """Copy every module of the ``styledex`` package into ``target`` at its installed place; returns ``target``."""
    for package, source in _package_sources().items():
        dest = target / package.replace(".", "/")
        dest.mkdir(parents=True, exist_ok=True)
        for module in source.glob("*.py"):
            shutil.copy2(module, dest / module.name)
    return target


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # import-linter's own entry point, run by this interpreter (a venv may lack the lint-imports script)
    entry = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    command = [sys.executable, "-c", entry, "--config", str(PYPROJECT), "--no-cache"]
    return subprocess.run(
        command, cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def laid_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lay_out_package(tmp_path_factory.mktemp("layers"))


def test_every_module_of_the_project_is_in_a_listed_package(laid_out: Path) -> None:
    """A folder of modules missing from pyproject.toml's ``packages`` would be left out of every install (and out
    of the contracts): each module under the mapped folders belongs to a listed package, and the copy holds it."""
    sources = _package_sources()
    folders = {source.resolve(): package for package, source in sources.items()}
    roots = {REPO / "styledex", REPO / "embed", REPO / "index", REPO / "serve", REPO / "train", REPO / "configs"}
    modules = [path for root in roots for path in root.rglob("*.py") if "__pycache__" not in path.parts]
    assert len(modules) > 60
    unlisted = sorted(str(path.relative_to(REPO)) for path in modules if path.parent.resolve() not in folders)
    assert unlisted == []
    for path in modules:
        installed = laid_out / folders[path.parent.resolve()].replace(".", "/") / path.name
        assert installed.is_file(), installed


def test_the_contracts_hold(laid_out: Path) -> None:
    run = lint_imports(laid_out)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        ("styledex/embed/stats.py", "styledex.index", "Adapters over the core"),  # embed and index are siblings
        ("styledex/index/policy.py", "styledex.catalog", "Adapters over the core"),  # index knows nothing above
        ("styledex/search.py", "styledex.evaluation.benchdata", "Adapters over the core"),  # runtime ↛ evaluation
        ("styledex/catalog.py", "styledex.serve.app", "Adapters over the core"),  # the core never imports serve
        ("styledex/train/losses.py", "styledex.config", "Trainers use only"),  # train: embed and train only
    ],
)
def test_a_forbidden_import_breaks_a_contract(laid_out: Path, module: str, forbidden: str, contract: str) -> None:
    path = laid_out / module
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original + f"\nimport {forbidden}  # noqa: E402\n", encoding="utf-8")
        run = lint_imports(laid_out)
    finally:
        path.write_text(original, encoding="utf-8")
    assert run.returncode == 1, run.stdout + run.stderr
    broken = [line for line in run.stdout.splitlines() if line.endswith(" BROKEN")]
    assert any(line.startswith(contract) for line in broken), run.stdout
