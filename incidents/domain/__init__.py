"""The domain: incidents, their workflow and policy, and the ports it owns (store.py, notifier.py).

Plain Python and pydantic: no Azure SDK, HTTP, template or storage import here, and nothing of the wings around it.
"""
