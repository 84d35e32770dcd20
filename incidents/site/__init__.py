"""The public status site: the view model (view.py), pages (render.py) and machine-readable feeds (feeds.py), the
site sink port (sink.py) with its two sinks, publishing what changed (publisher.py), and its timer (functions.py)."""
