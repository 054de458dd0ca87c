"""`opsconsole snapshot --json`: every reading as JSON, plus a Nagios-style verdict."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import replace
from datetime import datetime
from typing import Any

from console.board import Board, assess_mongo
from console.config import Settings
from console.model import CacheStatus, MongoStatus, Reading, TrafficSnapshot

SCHEMA = "opsconsole.snapshot/1"


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums and datetimes as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def reading_json(board: Board, reading: Reading) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "source": reading.source,
        "kind": reading.kind,
        "status": board.status_of(reading).value,
        "mode": reading.mode.value,
        "error": reading.error,
        "at": reading.at.isoformat(),
        "last_ok_at": reading.last_ok_at.isoformat() if reading.last_ok_at else None,
        "duration_ms": round(reading.duration_ms, 1) if reading.duration_ms is not None else None,
        "data": to_jsonable(reading.value),
    }
    if isinstance(reading.value, MongoStatus):
        entry["findings"] = assess_mongo(reading.value)[1]
    if isinstance(reading.value, CacheStatus):
        entry["findings"] = board.assess_cache(reading)[1]
    if isinstance(reading.value, TrafficSnapshot):
        # Rows as the pane shows them: judged against the thresholds, worst first.
        services = board.traffic_rows()
        routes = [row for service in services for row in board.traffic_routes(service.service)]
        entry["data"] = to_jsonable(replace(reading.value, services=tuple(services), routes=tuple(routes)))
    return entry


def snapshot_document(settings: Settings, board: Board, at: datetime) -> dict[str, Any]:
    overall = board.overall()
    return {
        "schema": SCHEMA,
        "at": at.isoformat(),
        "environment": {"name": settings.env.name, "label": settings.env.label, "protected": settings.env.protected},
        "status": overall.value,
        "exit_code": overall.exit_code,
        "sources": [reading_json(board, r) for r in sorted(board.readings.values(), key=lambda r: r.source)],
    }
