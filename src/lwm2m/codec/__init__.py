"""LwM2M content formats, one module each, behind one registry keyed by content format."""
