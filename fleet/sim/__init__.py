"""Public testing aids: the things `fleet` talks to, real or simulated, on loopback.

A Mosquitto launcher (`broker`), simulated hydro 2.0 nodes (`node`, also `nodes`), the
virtual ESP32 (`esp32`), a firmware bundle generator (`firmware_gen`), a double of the
Laravel registration API (`backend`), sample sites (`site`, `reference_site`) and the
`run_fleet` CLI runner (`cli`). Tests, `bench/` and the demo use them. May import the
domain packages and the registry; never `fleet.cli`.
"""
