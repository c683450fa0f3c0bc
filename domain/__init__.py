"""The canonical model of ordersync: orders, money, inventory, events and services.

Imports nothing of the project and no infrastructure (the standard library and
pydantic for value types only).
"""
