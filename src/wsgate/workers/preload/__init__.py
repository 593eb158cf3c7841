"""What runs in a worker before its runtime interface client: files run by path, never
imported by the worker as part of wsgate (importing ``wsgate.workers`` would cost a cold
start the gateway's whole import). Standard library only."""
