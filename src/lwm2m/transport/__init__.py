"""I/O adapters that drive the sans-I/O protocol cores over real transports."""
