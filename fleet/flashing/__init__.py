"""flashing."""
