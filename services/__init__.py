"""The three services. `shared` is imported first: its set-up must precede every metric the services define."""

import shared  # noqa: F401
