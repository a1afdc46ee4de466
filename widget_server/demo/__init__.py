"""`tarry demo`: a made-up shop, a year of simulated history, the server (command.py)."""
