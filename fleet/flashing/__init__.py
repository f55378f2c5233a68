"""USB flashing over esptool and the technician's station.

Owns the connected board (`device`, `ports`), writing only what differs (`regions`,
`flasher`), reading a board's NVS back (`nvs_pull`), waiting for a flashed node to come
ONLINE (`online_watch`) and the multi-port station (`station`, `station_job`). May import
`fleet.protocol`, `fleet.nvs`, `fleet.firmware`, `fleet.registry`, `fleet.vault`; never
`fleet.cli`. OTA is its own package (`fleet.ota`).
"""
