"""Package layout: the plugin folders sit at the top level but install under ``tnas_plugin.``.

``search_spaces/``, ``strategies/`` and ``hardware/`` are mapped to ``tnas_plugin.search_spaces`` etc.
with setuptools' ``package_dir`` so that no generic top-level name is installed into a user's environment.
"""
from setuptools import find_packages, setup

PLUGIN_FOLDERS = {"search_spaces": "search_spaces", "strategies": "strategies", "hardware": "hardware"}


def mapped_packages():
    packages = ["tnas_plugin"] + [f"tnas_plugin.{p}" for p in find_packages("tnas_plugin")]
    package_dir = {"tnas_plugin": "tnas_plugin"}
    for name, folder in PLUGIN_FOLDERS.items():
        root = f"tnas_plugin.{name}"
        packages.append(root)
        package_dir[root] = folder
        for sub in find_packages(folder):
            packages.append(f"{root}.{sub}")
            package_dir[f"{root}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return packages, package_dir


packages, package_dir = mapped_packages()
setup(packages=packages, package_dir=package_dir)
