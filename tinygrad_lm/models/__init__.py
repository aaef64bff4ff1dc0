"""One module per model of the inventory."""
