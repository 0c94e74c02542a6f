"""What the service does, from the core and the store: no HTTP, no command line."""
