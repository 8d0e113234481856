"""The knowledge-base domain: raw articles -> article embeddings -> the kb_procedures collection."""
