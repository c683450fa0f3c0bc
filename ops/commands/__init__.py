"""The `ordersync` commands, one module per kind of work (ops.cli puts them on the group)."""
