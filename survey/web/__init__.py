"""The HTTP face: Litestar handlers that decode, call a flow, and encode."""
