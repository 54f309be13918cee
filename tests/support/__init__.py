"""Harnesses the tests (and bench/) share; never shipped in the wheel.

- ``tests.support.e2e``: the whole system as child processes on a private
  Mosquitto, set up the way an installer and an operator do.
- ``tests.support.broker``: the demo's private Mosquitto with production's TLS
  listener and crashes (SIGKILL).
- ``tests.support.tls``: a throwaway CA (trustme) for TLS tests against it.
- ``tests.support.config``: node configurations for tests, and a CA standing in
  for central that signs the node's certificate requests.
"""
