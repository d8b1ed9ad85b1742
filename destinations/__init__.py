"""Destinations: the engagements push (dlt custom destination) and the local API sandbox."""
