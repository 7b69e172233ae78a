"""Radiology report parsing into anatomy-grounded triplets."""
