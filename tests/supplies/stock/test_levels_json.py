"""GET /supplies/stock writes its body in one pass (`stock_levels_json`): the same JSON as
one StockLevelOut model per row would give, byte for byte (quantities as numbers, no
expiry as null), so clients see no change."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from supplies.stock.schemas import StockLevelOut, stock_levels_json
from supplies.stock.service import Level


def test_the_body_is_what_the_models_give() -> None:
    levels = [
        Level(
            "p1",
            "D-01",
            "i1",
            "water-2l",
            "保存水 2L",
            "water 2 L",
            "本",
            Decimal("400"),
            date(2031, 3, 31),
            2,
        ),
        Level("p1", "D-01", "i2", "rice", "精米", "rice", "kg", Decimal("12.500"), None, 1),
        Level(
            "p2",
            "D-02",
            "i1",
            "water-2l",
            "保存水 2L",
            "water 2 L",
            "本",
            Decimal("0.001"),
            date(2027, 1, 1),
            1,
        ),
    ]
    models = [StockLevelOut(**vars(level)) for level in levels]
    body = stock_levels_json(levels)
    assert body == b"[" + b",".join(m.model_dump_json().encode() for m in models) + b"]"
    rows = json.loads(body)
    assert rows == [model.model_dump(mode="json") for model in models]
    assert [row["quantity"] for row in rows] == [400, 12.5, 0.001]
    assert rows[1]["earliest_expiry"] is None
    assert json.loads(stock_levels_json([])) == []
