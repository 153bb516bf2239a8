"""Browsing a recommender: personas on its pages, and the recommenders under test."""
