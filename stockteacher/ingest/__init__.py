"""Ingestion: ticker registry, normalisation, de-duplication, story clustering, `collect_core`."""
