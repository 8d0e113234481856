"""The sync engine shared by both domains: documents, embedding, writing (no Dagster import)."""
