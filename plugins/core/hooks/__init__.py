"""Generic hooks usable with every method."""
