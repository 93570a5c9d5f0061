"""The plan catalogue's data model: a Layer, its attribute schema, plan target and status style."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FieldType = Literal["str", "int", "float", "bool", "date", "datetime", "json"]
LayerGeometry = Literal["Point", "MultiPoint", "MultiLineString", "MultiPolygon"]


class FieldSpec(BaseModel):
    """One attribute of a layer, with its Chinese and English aliases."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: FieldType
    alias_zh: str
    alias_en: str
    unit: str | None = None
    description: str = ""
    values: tuple[str, ...] | None = None
    queryable: bool = True
    public: bool = True


class StatusSpec(BaseModel):
    """One status value with its label and map colour."""

    model_config = ConfigDict(frozen=True)

    value: str
    label_zh: str
    label_en: str
    color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")


class Target(BaseModel):
    """A plan target and how features count towards it.

    ``measure`` is ``count`` (each done feature counts 1) or ``sum`` (done features add ``field``, e.g.
    ``area_mu``). A feature is done when its status is in ``done_statuses``. ``secondary`` names further
    sums reported alongside (e.g. households benefited), each ``field -> label``. ``quotas`` are the
    county shares (adcode -> value) county rows are compared with. Targets come from a plan
    (``layers.plan_model``).
    """

    model_config = ConfigDict(frozen=True)

    quote_zh: str
    value: float
    unit_zh: str
    unit_en: str
    measure: Literal["count", "sum"]
    field: str | None = None
    done_statuses: tuple[str, ...] = ("completed",)
    deadline: str = "2025-12-31"
    secondary: dict[str, str] = Field(default_factory=dict)
    quotas: dict[str, float] = Field(default_factory=dict)


class Layer(BaseModel):
    """A layer of the plan catalogue: what it is, its schema, its target and its style."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    kind: Literal["project", "context"] = "project"
    geometry_type: LayerGeometry
    fields: tuple[FieldSpec, ...]
    statuses: tuple[StatusSpec, ...] = ()
    target: Target | None = None
    label_field: str = "name"
    min_zoom: int = 0

    def field(self, name: str) -> FieldSpec:
        """Return the attribute named ``name``; raise KeyError when the layer has none."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def field_names(self) -> list[str]:
        """Return attribute names in schema order."""
        return [f.name for f in self.fields]

    @property
    def column_types(self) -> dict[str, str]:
        """Return attribute name -> planmap type, as stores take them in ``write_layer(types=...)``."""
        return {f.name: f.type for f in self.fields}

    @property
    def status_colors(self) -> dict[str, str]:
        """Return status value -> colour."""
        return {s.value: s.color for s in self.statuses}
