"""Blueprints, one per area. Each view parses the request, calls one service and renders."""
