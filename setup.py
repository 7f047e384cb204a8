"""Package discovery only; everything else is in pyproject.toml.

Every package under gcam_desktop/ and training/ is found, never listed by hand. resources/ is
installed as gcam_desktop.resources (one import path for the source tree, a wheel and the
frozen bundle), and a mapped folder is something find_packages cannot discover, so it is
added here by name.
"""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["gcam_desktop", "gcam_desktop.*", "training", "training.*"])
      + ["gcam_desktop.resources"])
