-- Stock per product: on hand and reserved by open orders.
CREATE TABLE inventory (
    product_id        integer PRIMARY KEY REFERENCES products (product_id) ON DELETE CASCADE,
    quantity_on_hand  integer NOT NULL DEFAULT 0 CHECK (quantity_on_hand >= 0),
    quantity_reserved integer NOT NULL DEFAULT 0 CHECK (quantity_reserved >= 0),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (quantity_reserved <= quantity_on_hand)
);
