"""The pure domain of the FFAPI worker.

Nothing in this package performs I/O: no boto3, no subprocess, no environment, no network.
Adapters in ``infra`` implement the ports declared in :mod:`core.ports`.
"""
