"""Prices as data, and the cost of a finished generation."""

from imagegen.pricing.calculator import compute_cost
from imagegen.pricing.table import Price, PriceTable, load_price_table, price_from_model_info

__all__ = ["Price", "PriceTable", "compute_cost", "load_price_table", "price_from_model_info"]
