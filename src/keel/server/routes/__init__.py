"""REST routes, one module per concept."""
