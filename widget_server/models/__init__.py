"""The recommender in service: model versions, showcases filled from them, training."""
