"""Offline simulation of whole sessions through the production worker path."""
