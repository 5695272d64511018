"""Test bed helpers: the berthd daemon fixture, a local registry, ports, process bookkeeping."""
