"""Binds every .feature file under features/ to pytest."""

from pytest_bdd import scenarios

scenarios("cli", "fixtures", "server")
