"""Playwright scenarios against the built client in a real Chromium (own pytest process)."""
