"""Benchmarks and load generators: they print figures, they assert nothing. `journeyline bench [NAME]` runs them.

They live outside the services on purpose: a service package never imports a benchmark or the CLI, and a
benchmark drives the services from outside (through their HTTP APIs and the broker) or calls their public
domain functions, as a user's tool would.
"""
