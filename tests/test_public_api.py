import importlib

import monitoring_layer


def test_every_name_in_all_imports():
    for name in monitoring_layer.__all__:
        assert getattr(monitoring_layer, name) is not None, name
        exec(f"from monitoring_layer import {name}", {})


def test_all_is_sorted_and_unique():
    names = [n for n in monitoring_layer.__all__ if n != "__version__"]
    assert names == sorted(set(names), key=names.index)
    assert names == sorted(names)


def test_subpackages_import():
    for name in ("monitoring_layer.exporters", "monitoring_layer.instrumentors", "monitoring_layer.cli"):
        importlib.import_module(name)


def test_version_is_a_string():
    assert isinstance(monitoring_layer.__version__, str) and monitoring_layer.__version__.count(".") == 2
