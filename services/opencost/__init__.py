"""OpenCost as a data source: HTTP client, wire models, several clusters as one, cache."""
