"""The product catalog the traffic is built from: `files/catalog/products.csv` or the OLTP table `products`."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

CATALOG_COLUMNS = (
    "product_id",
    "sku",
    "name",
    "category",
    "brand",
    "price",
    "discount_price",
    "url_path",
    "popularity",
)
DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "files" / "catalog" / "products.csv"


class CatalogError(ValueError):
    """The catalog is missing, empty or has a bad row (the message says which)."""


@dataclass(frozen=True)
class Product:
    product_id: int
    sku: str
    name: str
    category: str
    brand: str
    price: Decimal
    discount_price: Decimal | None
    url_path: str
    popularity: float

    @property
    def effective_price(self) -> Decimal:
        """What a buyer pays for one unit: the sale price when there is one, else the list price."""
        return self.discount_price if self.discount_price is not None else self.price

    def as_event_product(self) -> dict[str, object]:
        """The `product` object of the event contract (prices as JSON numbers)."""
        return {
            "id": self.product_id,
            "name": self.name,
            "category": self.category,
            "brand": self.brand,
            "price": float(self.price),
            "discount_price": None if self.discount_price is None else float(self.discount_price),
            "url_path": self.url_path,
        }


def _decimal(value: object, column: str, row_no: int, *, nullable: bool = False) -> Decimal | None:
    text = "" if value is None else str(value).strip()
    if text == "":
        if nullable:
            return None
        raise CatalogError(f"catalog row {row_no}: column {column} is empty")
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise CatalogError(f"catalog row {row_no}: column {column} is not a number: {text!r}") from exc
    if number < 0:
        raise CatalogError(f"catalog row {row_no}: column {column} is negative: {text}")
    return number.quantize(Decimal("0.01"))


def product_from_row(row: Mapping[str, object], row_no: int) -> Product:
    """One catalog row (CSV dict or DB row dict) -> Product, with a clear error naming the row."""
    missing = [c for c in CATALOG_COLUMNS if c not in row]
    if missing:
        raise CatalogError(f"catalog row {row_no}: missing column(s) {', '.join(missing)}")
    try:
        product_id = int(str(row["product_id"]).strip())
        popularity = float(str(row["popularity"]).strip())
    except ValueError as exc:
        raise CatalogError(f"catalog row {row_no}: bad product_id or popularity ({exc})") from exc
    if popularity <= 0:
        raise CatalogError(f"catalog row {row_no}: popularity must be > 0")
    url_path = str(row["url_path"]).strip()
    if not url_path.startswith("/"):
        raise CatalogError(f"catalog row {row_no}: url_path must start with '/': {url_path!r}")
    price = _decimal(row["price"], "price", row_no)
    assert price is not None
    return Product(
        product_id=product_id,
        sku=str(row["sku"]).strip(),
        name=str(row["name"]).strip(),
        category=str(row["category"]).strip(),
        brand=str(row["brand"]).strip(),
        price=price,
        discount_price=_decimal(row["discount_price"], "discount_price", row_no, nullable=True),
        url_path=url_path,
        popularity=popularity,
    )


def products_from_rows(rows: Iterable[Mapping[str, object]]) -> tuple[Product, ...]:
    """Validated, ordered by product_id; duplicate ids and an empty catalog are errors."""
    products = [product_from_row(row, n) for n, row in enumerate(rows, start=1)]
    if not products:
        raise CatalogError("the catalog has no products")
    ids = [p.product_id for p in products]
    if len(set(ids)) != len(ids):
        raise CatalogError("the catalog has duplicate product_id values")
    return tuple(sorted(products, key=lambda p: p.product_id))


def load_catalog_csv(path: Path | str = DEFAULT_CATALOG) -> tuple[Product, ...]:
    """Read the seed catalog CSV (header: the CATALOG_COLUMNS, in any order)."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"catalog file not found: {path}")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in CATALOG_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CatalogError(f"{path}: header lacks column(s) {', '.join(missing)}")
        return products_from_rows(reader)


CATALOG_QUERY = (
    "SELECT product_id, sku, name, category, brand, price, discount_price, url_path, popularity "
    "FROM {table} ORDER BY product_id"
)


def load_catalog_db(dsn: str, table: str = "products") -> tuple[Product, ...]:
    """Read the catalog from the OLTP database (psycopg2 DSN), e.g. table `products` or `shop.products`."""
    import psycopg2
    from psycopg2 import sql

    parts = [sql.Identifier(p) for p in table.split(".")]
    query = sql.SQL(CATALOG_QUERY).format(table=sql.SQL(".").join(parts))
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(query)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    conn.close()
    return products_from_rows(rows)
