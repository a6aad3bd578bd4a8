"""Cost answers: windows, pure cost arithmetic, the answer structs and CostService."""
