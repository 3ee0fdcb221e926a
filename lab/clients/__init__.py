"""The lab's own clients: plain sockets and the sans-I/O cores of `protocols/`."""
