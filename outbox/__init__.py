"""The transactional outbox: its tables, the writer that turns domain events into rows in
the caller's transaction, routing (handed in from above: the outbox knows no downstream
system by name), the envelope, the relay behind a publisher port, and its statistics."""
