"""costbot's composition root: settings, logging, wiring, servers and the CLI."""
