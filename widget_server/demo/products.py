"""The demo shop's products: made up, and the same on every machine.

Each product is one item of the synthetic shop (`recommender.synthetic`) whose
simulated shoppers fill the demo store, so what they view, cart and buy are these
products, in these categories. Categories that share a taste of the synthetic
shop (category c leans on taste c % 3) are ones a shopper plausibly likes together:
mugs and candles, tees and bags, lamps and plants.
"""

from __future__ import annotations

import dataclasses
import functools
import random

from recommender.synthetic import SyntheticShop, item_categories

CURRENCY = "USD"
OUT_OF_STOCK_SHARE = 0.05

# The simulated shop. Carts and orders as a real shop sees them (a few percent of
# sessions buy), not the benchmark's defaults.
SHOP = SyntheticShop(
    n_users=50_000,
    n_items=300,
    n_categories=6,
    n_tastes=3,
    sessions_per_user=3.0,
    views_per_session=3.5,
    cart_rate=0.07,
    purchase_rate=0.28,
    complement_rate=0.4,
    repeat_rate=0.15,
    anonymous_share=0.45,
    days=365.0,
    seed=7,
)


@dataclasses.dataclass(frozen=True)
class Category:
    slug: str
    name: str
    shape: str  # the silhouette of its images (images.py)
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    prices: tuple[float, float]
    blurb: str


# In the synthetic shop's category order: category c is CATEGORIES[c].
CATEGORIES = (
    Category(
        "mugs",
        "Mugs",
        "mug",
        ("mug", "cup", "espresso cup", "tall mug"),
        ("Stoneware", "Speckled", "Glazed", "Matte", "Hand-thrown", "Enamel", "Porcelain"),
        (12, 32),
        "Dishwasher-safe, holds a generous 350 ml, and feels good in the hand.",
    ),
    Category(
        "tees",
        "T-shirts",
        "tee",
        ("tee", "crew tee", "pocket tee", "relaxed tee"),
        ("Organic", "Heavyweight", "Washed", "Slub", "Everyday", "Linen-blend", "Recycled"),
        (19, 45),
        "Soft organic cotton, pre-washed so it keeps its shape.",
    ),
    Category(
        "lamps",
        "Lamps",
        "lamp",
        ("table lamp", "desk lamp", "floor lamp", "reading lamp"),
        ("Arc", "Studio", "Dome", "Bauhaus", "Mushroom", "Globe", "Swing-arm"),
        (45, 190),
        "Warm dimmable LED bulb included; the cord is a braided 2 m.",
    ),
    Category(
        "candles",
        "Candles",
        "candle",
        ("candle", "jar candle", "travel candle", "pillar candle"),
        ("Cedar", "Fig", "Amber", "Sea salt", "Tobacco", "Neroli", "Smoked vanilla"),
        (9, 38),
        "Soy wax, cotton wick, about 40 hours of slow, even burn.",
    ),
    Category(
        "bags",
        "Bags",
        "bag",
        ("tote", "market bag", "shopper", "weekender"),
        ("Canvas", "Waxed", "Corduroy", "Leather-trim", "Ripstop", "Denim", "Jute"),
        (24, 120),
        "Roomy enough for a laptop and a loaf; stitched to last.",
    ),
    Category(
        "plants",
        "Plants",
        "plant",
        ("planter", "pot", "hanging planter", "plant stand"),
        ("Terracotta", "Ribbed", "Footed", "Concrete", "Ceramic", "Self-watering", "Woven"),
        (14, 65),
        "A drainage hole and a saucer, so roots stay happy.",
    ),
)

COLOURS = (
    ("Sage", "#8fa98b"),
    ("Terracotta", "#c8643b"),
    ("Navy", "#2c3e6b"),
    ("Mustard", "#d9a21b"),
    ("Charcoal", "#3d3f45"),
    ("Blush", "#e3a3a0"),
    ("Ivory", "#e9e1cf"),
    ("Teal", "#1f7a7a"),
    ("Plum", "#6e3b63"),
    ("Olive", "#6f7436"),
    ("Coral", "#ee7560"),
    ("Sky", "#79add6"),
)


@dataclasses.dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: Category
    price: float
    colour_name: str
    colour: str  # hex
    in_stock: bool
    item: str  # the synthetic shop's item id ("i42")
    variant: int  # small differences between images of one category

    @property
    def slug(self) -> str:
        return self.sku.lower()

    @property
    def availability(self) -> str:
        return "https://schema.org/" + ("InStock" if self.in_stock else "OutOfStock")

    @property
    def description(self) -> str:
        return f"{self.category.blurb} In {self.colour_name.lower()}."


@dataclasses.dataclass(frozen=True)
class Catalog:
    products: tuple[Product, ...]
    by_sku: dict[str, Product]
    by_item: dict[str, Product]

    def in_category(self, slug: str) -> list[Product]:
        return [p for p in self.products if p.category.slug == slug]

    def category(self, slug: str) -> Category | None:
        return next((c for c in CATEGORIES if c.slug == slug), None)


def _price(rng: random.Random, low: float, high: float) -> float:
    """A shop's kind of price: 14.5 or 15 below 20, else ending in 4 or 9."""
    whole = int(rng.uniform(low, high))
    if whole < 20:
        return whole + rng.choice((0.0, 0.5))
    return float(whole // 5 * 5 + rng.choice((4, 9)))


@functools.cache
def catalog() -> Catalog:
    rng = random.Random(SHOP.seed)
    items = sorted(item_categories(SHOP).items(), key=lambda kv: int(kv[0][1:]))
    used: set[str] = set()
    products = []
    for item, category_id in items:
        category = CATEGORIES[int(category_id[1:])]
        while True:
            colour_name, colour = rng.choice(COLOURS)
            words = f"{colour_name} {rng.choice(category.adjectives)} {rng.choice(category.nouns)}"
            name = " ".join(word[0].upper() + word[1:] for word in words.split())
            if name not in used:
                used.add(name)
                break
        products.append(
            Product(
                sku=f"TD-{int(item[1:]) + 1001}",
                name=name,
                category=category,
                price=_price(rng, *category.prices),
                colour_name=colour_name,
                colour=colour,
                in_stock=rng.random() >= OUT_OF_STOCK_SHARE,
                item=item,
                variant=rng.randrange(3),
            )
        )
    ordered = tuple(sorted(products, key=lambda p: (CATEGORIES.index(p.category), p.sku)))
    return Catalog(ordered, {p.sku: p for p in ordered}, {p.item: p for p in ordered})
