"""Kept minimal: metadata lives in setup.cfg (``pip install -e .`` / ``mim install -e .``)."""
from setuptools import setup

setup()
