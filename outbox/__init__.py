"""The transactional outbox: tables, routing, the writer, the envelope and (later) the relay."""
