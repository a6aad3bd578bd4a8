"""Everything that exists only for the demo and local sessions: the synthetic cluster, the demo
identity map and RBAC, the local Slack, the tour and the terminal renderer. Production code never
imports this package (an import-linter contract); only the CLI entry point chooses it."""
