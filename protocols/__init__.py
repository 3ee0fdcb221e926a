"""Sans-I/O protocol cores: bytes in, events (or bytes) out.

Nothing in this package touches a socket, a thread or an event loop. That is what lets
one parser serve six I/O models, the packet-capture annotator and the grader.
"""
