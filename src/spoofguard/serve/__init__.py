"""Serving a model: the HTTP API and upload page (app), the Gradio UI (ui)."""
