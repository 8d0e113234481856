"""The tickets domain: raw tickets -> ticket embeddings -> the support_tickets collection."""
