"""Every module of the collection documents itself: `ansible-doc` parses its DOCUMENTATION (a module whose YAML does
not parse shows users an error instead of its options, and ansible-lint only warns), its EXAMPLES and RETURN are
YAML, and every option of its argument spec is documented."""

from __future__ import annotations

import importlib

import pytest
import yaml

from scripts.harness.ansible import REPO, ansible_doc

MODULES = sorted(p.stem for p in (REPO / "collections/ansible_collections/clickstream/platform/plugins/modules")
                 .glob("*.py") if not p.name.startswith("_"))


def _spec(module: str) -> dict | None:
    """The module's argument spec where it keeps one at module level (ARGUMENT_SPEC), else None."""
    mod = importlib.import_module(f"ansible_collections.clickstream.platform.plugins.modules.{module}")
    return getattr(mod, "ARGUMENT_SPEC", None)


def test_every_module_is_listed():
    assert len(MODULES) >= 20 and "postgresql_state" in MODULES and "ssm_parameters" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_parses_the_module(module):
    doc = ansible_doc(module)  # fails when ansible-doc cannot parse the DOCUMENTATION
    assert doc["doc"]["module"] == module and doc["doc"]["short_description"]
    mod = importlib.import_module(f"ansible_collections.clickstream.platform.plugins.modules.{module}")
    assert yaml.safe_load(mod.EXAMPLES)
    if getattr(mod, "RETURN", "").strip():
        assert isinstance(yaml.safe_load(mod.RETURN), dict)
    spec = _spec(module)
    if spec is not None:
        missing = set(spec) - set(doc["doc"].get("options") or {})
        assert not missing, f"{module}: options not documented: {sorted(missing)}"
