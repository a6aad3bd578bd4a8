"""The HTTP API: the same cost answers as `/cost`, over HTTP, scoped by the caller's own
Kubernetes token. A front door like `handlers/`: it translates requests into service calls and
answers back into JSON (or CSV); every rule stays in `services/`."""
