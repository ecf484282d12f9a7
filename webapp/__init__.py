"""Flask web app, JSON API, CLI and the composition root."""
