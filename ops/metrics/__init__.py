"""Prometheus metrics: what each process counts, and how it is scraped (docs/metrics.md).

One module per concern: the doors (`ingest`), the relay (`relay`), the actors
(`delivery`), what the units of work commit (`business`), the service-level objectives
(`slo`), the figures read from the database at scrape time (`backlog`), and how a process
exposes them (`exposition`). Every metric lives in prometheus-client's default registry
(the probe's counter is there too), except the database collector, which each API app
owns. The listeners attach to the product's hooks; nothing here runs inside the relay,
the actors or the domain.
"""
