"""Tarry's recommender: interaction matrices, models, evaluation, artefacts.

A library with no web code; the server and the `tarry train` job use it.
"""
