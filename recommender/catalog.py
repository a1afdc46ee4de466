"""What the recommender knows about items besides behaviour: category and stock.

The catalog fills itself from events: the snippet sends product data with
`view_item` (from the page's schema.org JSON-LD), and the newest record of an item
wins. Availability follows schema.org's `offers.availability` values; anything that
is not clearly out of stock counts as available, so a missing field never hides an
item.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from recommender.interactions import IdMap, StoredItem

UNAVAILABLE = frozenset({"outofstock", "soldout", "discontinued"})


def is_available(availability: str | None) -> bool:
    """`https://schema.org/OutOfStock`, `OutOfStock`, `out_of_stock`... → False."""
    if not availability:
        return True
    name = availability.rsplit("/", 1)[-1].replace("_", "").replace(" ", "").lower()
    return name not in UNAVAILABLE


@dataclasses.dataclass
class ItemInfo:
    name: str | None = None
    category: str | None = None
    available: bool = True


class CatalogBuilder:
    """Collects the newest known facts about each item while events stream past."""

    def __init__(self) -> None:
        self.items: dict[str, ItemInfo] = {}
        self._last: dict[str, StoredItem] = {}

    def observe(self, item: Mapping[str, Any]) -> None:
        """An item record as a mapping (a decoded event's `items` entry)."""
        self.observe_item(
            StoredItem(
                str(item["item_id"]),
                item.get("item_name"),
                item.get("item_category"),
                item.get("availability"),
            )
        )

    def observe_item(self, item: StoredItem) -> None:
        # Most records repeat the previous one of the same item (every view sends
        # the same product data): one C-level comparison skips them.
        if self._last.get(item.item_id) == item:
            return
        self._last[item.item_id] = item
        info = self.items.get(item.item_id)
        if info is None:
            info = self.items[item.item_id] = ItemInfo()
        if item.item_name:
            info.name = item.item_name
        if item.item_category:
            info.category = item.item_category
        if item.availability is not None:
            info.available = is_available(item.availability)


@dataclasses.dataclass
class Catalog:
    """Per item index (aligned with a model's `IdMap`): category and availability."""

    categories: list[str]
    category_of: np.ndarray  # int32, -1 where unknown
    available: np.ndarray  # bool
    names: list[str]

    @classmethod
    def build(cls, items: IdMap, known: Mapping[str, ItemInfo]) -> Catalog:
        categories = IdMap()
        category_of = np.full(len(items), -1, dtype=np.int32)
        available = np.ones(len(items), dtype=bool)
        names = [""] * len(items)
        for index in range(len(items)):
            info = known.get(items.id_of(index))
            if info is None:
                continue
            if info.category:
                category_of[index] = categories.add(info.category)
            available[index] = info.available
            names[index] = info.name or ""
        # str, not numpy's str_: category names end up in JSON (`because`)
        return cls([str(c) for c in categories.to_array()], category_of, available, names)

    @classmethod
    def empty(cls, n_items: int) -> Catalog:
        return cls([], np.full(n_items, -1, np.int32), np.ones(n_items, bool), [""] * n_items)

    def category_index(self, name: str) -> int:
        try:
            return self.categories.index(name)
        except ValueError:
            return -2  # matches no item


def observed(records: Iterable[Mapping[str, Any]]) -> dict[str, ItemInfo]:
    builder = CatalogBuilder()
    for record in records:
        builder.observe(record)
    return builder.items
