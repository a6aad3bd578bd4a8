"""`/cost` routes: one function per parsed command type."""
