"""The worker's lifecycle: mode Services placed in Faust's boot order, and the shutdown drain.

Wiring (`streamapp.wiring`) builds them; the boot strategy (`streamapp.app`) orders them:
database before the web server, the Kafka gate before Faust's producer, topics and the
relay after it. One module per job: `gates` (start once a dependency answers), `topics`,
`relay`, `metrics_server`, `shutdown` (the drain and its watchdog).
"""
