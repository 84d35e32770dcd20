"""Adapters of the domain's store port (domain/store.py): SQLite, the embedded default, and Cosmos DB.

Every adapter passes tests/integration/test_store_conformance.py.
"""
