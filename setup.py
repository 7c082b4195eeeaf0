"""Package layout: the folders that show the architecture become namespaced packages.

`plugins/`, `themes/` and `sample_data/` are installed as `workbench_plugins`,
`workbench_themes` and `workbench_sample_data`, never as generic top-level names.
"""
from setuptools import find_namespace_packages, find_packages, setup

FOLDERS = {"plugins": "workbench_plugins", "themes": "workbench_themes", "sample_data": "workbench_sample_data"}

packages = find_packages(include=["workbench", "workbench.*"])
package_dir = {"workbench": "workbench"}
for folder, name in FOLDERS.items():
    package_dir[name] = folder
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_namespace_packages(where=folder, exclude=["*__pycache__*"])]

setup(packages=packages, package_dir=package_dir)
