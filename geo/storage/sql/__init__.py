"""SQL shared by the database stores: identifiers, bound parameters, and one Filter/CQL2 -> WHERE renderer.

A store brings a :class:`~geo.storage.sql.dialect.Dialect` (placeholders, spatial predicates, literal
forms); everything else about turning a selection into SQL is written once, in ``render``.
"""

from geo.storage.sql.dialect import Dialect, Params, quote_ident
from geo.storage.sql.render import filter_to_cql, render_where

__all__ = ["Dialect", "Params", "filter_to_cql", "quote_ident", "render_where"]
