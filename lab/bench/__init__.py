"""`lab bench`: what each I/O model costs and where each wins, next to the servers people use.

Modules, one concept each:

* `scenarios`: the registry of scenarios (hello, blocking-work, idle-connections, ...);
  adding a scenario is one decorated function.
* `servers`: starting a server (a lab I/O model or a peer) as a subprocess on a CPU of
  its own, waiting for its `listening on` line, stopping it by PID.
* `peers`: the servers people pick instead (uvicorn, aiohttp, stdlib, nginx).
* `loadgen`: the lab's own load generator (asyncio on uvloop), in a separate process.
* `wrk`: drives `wrk` when installed and parses its report.
* `procstats`: server CPU time, RSS and threads from /proc.
* `report`: the terminal table, the JSON file, an SVG chart per scenario.
* `cli`: `configure(parser)` and `run(args)` for the `lab bench` subcommand.
"""
