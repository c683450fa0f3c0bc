"""Fake back-ends (ERP, WMS, CRM, channels) and a traffic generator (demo, tests, benchmarks)."""
