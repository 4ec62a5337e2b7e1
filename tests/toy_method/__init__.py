"""A sixth ReID method defined only inside tests/: the acceptance test of the model contract."""
