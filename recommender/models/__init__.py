"""Recommendation models, each behind the interface in `base.py`."""

from recommender.models.base import Recommender
from recommender.models.item_knn import ItemKNN
from recommender.models.popular import Popular

__all__ = ["ItemKNN", "Popular", "Recommender"]
