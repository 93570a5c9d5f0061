"""The API's routers, one module per resource; ``create_app`` includes each of ``ROUTERS``."""

from fastapi import APIRouter

from server.routers import health

ROUTERS: list[APIRouter] = [health.router]
