"""The parts of the sample lake generator, one module per kind of table.

`reference` reads the hand-written reference data under `samples/reference/`; `dimensions`
builds the small tables (countries, cities, services, sizes, clients, routes) and the lookup
arrays the facts need; `facts` builds the large tables (trackcode, orders) with numpy and
pyarrow, one vectorised step per column, so a million trackcodes take seconds, not minutes;
`arrays` holds the vectorised column builders they share. `serving_layer.samples` runs them and
writes the warehouse.
"""
