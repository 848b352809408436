"""`make bench`: measurements of the engine, the handlers, the local server and the writes."""
