"""`python -m bench` (or `make bench`): latency of the incident API over real HTTP on each store, and cold import time.

See bench/__main__.py for what is measured and how; results also land in bench/results/latest.json.
"""
