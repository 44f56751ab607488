"""The users service: its domain, service layer and adapters.

Dependencies point inward: `adapters` may import `service_layer` and `domain`,
`service_layer` may import `domain`, and `domain` imports neither Faust nor a database
driver. Nothing here imports the edge packages (`streamapp`, `agents`, `web`, `models`);
they import this package. `lint-imports` keeps that true.
"""
