"""The two decorator registries (transfer methods, trainers): each module registers exactly one entry, in the
listed order, and importing a registry imports no model module until the first lookup."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from styledex.embed.lazy_registry import LazyRegistry
from styledex.embed.transfer.registry import METHOD_MODULES, METHODS, TransferError, get_method, transfer_method
from styledex.train.registry import TRAINER_MODULES, TRAINERS

METHOD_NAMES = ["gatys", "johnson", "cin", "ghiasi", "adain", "wct", "stylebank", "pix2pix", "cyclegan", "munit",
                "mixgan"]
TRAINER_NAMES = ["johnson", "adain", "wct", "stylebank", "pix2pix", "cyclegan", "munit", "mixgan", "cin-predictor",
                 "style-head", "content-head"]


@pytest.mark.parametrize(
    ("registry", "modules", "names"),
    [(METHODS, METHOD_MODULES, METHOD_NAMES), (TRAINERS, TRAINER_MODULES, TRAINER_NAMES)],
    ids=["methods", "trainers"],
)
def test_every_module_registers_exactly_once_in_the_listed_order(registry, modules, names) -> None:
    assert list(registry) == names
    by_module = [registry.module_of(name) for name in registry]
    assert sorted(by_module) == sorted(modules)  # one entry per listed module, none twice, none left out
    for name in registry:
        assert registry[name].module == registry.module_of(name)  # the spec names the module that declared it


def test_lookups_keep_their_messages() -> None:
    with pytest.raises(TransferError) as info:
        get_method("picasso")
    assert str(info.value) == f"unknown method 'picasso'; expected one of {', '.join(METHOD_NAMES)}"
    assert "picasso" not in METHODS and "cin-predictor" in TRAINERS
    with pytest.raises(TypeError, match="decorates a module's stylize"):
        transfer_method("x", kind="arbitrary", description="")(lambda: None)


def test_a_registry_refuses_unlisted_modules_and_names_taken_by_another_module() -> None:
    registry: LazyRegistry[int] = LazyRegistry("thing", ["json", "csv"])  # cheap real modules to import
    registry.register("b", 1, "csv")
    registry.register("a", 2, "json")
    registry.register("c", 3, "csv")
    assert list(registry) == ["a", "b", "c"]  # by module order, then by registration within a module
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("a", 4, "csv")
    with pytest.raises(ValueError, match="not in the registry's list"):
        registry.register("d", 5, "os")
    registry.register("a", 6, "json")  # the same module again (a reload) replaces its entry
    assert registry["a"] == 6 and len(registry) == 3


PROBE = """
import json, sys
import styledex.embed.transfer, styledex.train
from styledex.embed.transfer.registry import METHOD_MODULES
from styledex.train.registry import TRAINER_MODULES
modules = list(METHOD_MODULES) + list(TRAINER_MODULES)
before = [m for m in modules if m in sys.modules]
styledex.embed.transfer.get_method("gatys")
"adain" in styledex.train.TRAINERS
print(json.dumps({"before": before, "after": [m for m in modules if m not in sys.modules]}))
"""


def test_importing_the_registries_imports_no_model_module_until_a_lookup() -> None:
    # A fresh interpreter: this test process has imported every module already.
    # styledex.train imports torch itself (its training loop); the transfer package alone must not.
    probe_transfer = "import sys, styledex.embed.transfer; print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", probe_transfer], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False", "importing styledex.embed.transfer imported torch"
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["before"] == [], "imported before any lookup"
    assert seen["after"] == [], "still not imported after a lookup"
