"""Alerts from registered devices (the "121" practice: a bracelet, two paired caretakers).

An alert raises a normal call (``source: device``) whose first candidates are the device's
caretakers; further alerts while that call is open are merged into it as
``DeviceAlertReceived`` (the newest position shows on the timeline).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Literal

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from events import commands as c
from events.models import Caller, Kind, Position, UtcDatetime
from services.adapters.intake_secrets import device_secret
from services.domain.aggregate import CallState
from services.domain.ids import new_call_id
from services.domain.roster import Device
from services.intake.deps import IntakeDeps, deps_of, execute, unavailable
from services.intake.device_auth import DeviceAuthError, replay_key, verify
from services.intake.device_desk import DeviceDesk
from services.intake.raising import raise_command
from services.intake.schemas import json_safe

router = APIRouter(tags=["devices"])

KIND_OF_ALERT: dict[str, Kind] = {"sos": "medical", "fall": "medical", "geofence_exit": "elderly_missing"}


class DeviceAlertIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    device_id: str = Field(min_length=1, max_length=64)
    kind: Literal["sos", "geofence_exit", "fall"]
    position: Position | None = None
    battery: float | None = Field(default=None, ge=0, le=100)
    at: UtcDatetime | None = None


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(401, f"device alert refused: {reason}")


@router.post("/api/alerts/device", status_code=201)
async def device_alert(
    request: Request,
    x_timestamp: str | None = Header(default=None),
    x_signature: str | None = Header(default=None),
) -> Any:
    deps = deps_of(request)
    desk = deps.devices
    body = await request.body()
    try:
        device_id = json.loads(body).get("device_id")
    except (ValueError, AttributeError):
        device_id = None
    device = deps.roster.device(device_id) if isinstance(device_id, str) else None
    if device is None:
        raise _unauthorized("unknown device")
    if deps.nc is None:
        raise unavailable()
    try:  # in the intake's own bucket: no other service can read it (nor sign with it)
        secret = await device_secret(deps.nc, device.id)
    except Exception:
        raise unavailable() from None
    if secret is None:
        raise _unauthorized("unknown device")
    now = time.time()
    try:
        verify(secret, x_timestamp, x_signature, body, now)
    except DeviceAuthError as exc:
        raise _unauthorized(str(exc)) from None
    ledger = await desk.replays(deps.nc)
    key = replay_key(x_signature or "")
    try:
        claimed = await ledger.claim(key)
    except Exception:
        raise unavailable() from None
    if not claimed:
        raise _unauthorized("replayed signature")
    try:
        return await _record_alert(deps, desk, device, body)
    except BaseException:
        await ledger.release(key)  # nothing stored: the device's retry must be accepted
        raise


async def _record_alert(deps: IntakeDeps, desk: DeviceDesk, device: Device, body: bytes) -> JSONResponse:
    try:
        alert = DeviceAlertIn.model_validate_json(body)
    except ValidationError as exc:
        raise HTTPException(422, json_safe(exc.errors(include_url=False, include_context=False))) from None
    lock = desk.locks.setdefault(device.id, asyncio.Lock())
    async with lock:
        open_call = _open_call_of(deps, desk, device.id)
        if open_call is not None:
            await execute(
                deps,
                c.RecordDeviceAlert(
                    call_id=open_call,
                    device_id=device.id,
                    alert_kind=alert.kind,
                    position=alert.position,
                    battery=alert.battery,
                    device_at=alert.at,
                ),
            )
            return JSONResponse({"call_id": open_call, "merged": True}, status_code=201)
        call_id = new_call_id()
        command = raise_command(
            deps.roster,
            deps.settings.targets,
            deps.clock.now(),
            call_id=call_id,
            caller=Caller(name=device.resident.name, phone=device.resident.phone),
            building_id=device.building_id,
            kind=KIND_OF_ALERT[alert.kind],
            note=f"device {device.id}: {alert.kind}"
            + (f", battery {alert.battery:.0f}%" if alert.battery is not None else ""),
            source="device",
            device_id=device.id,
            position=alert.position,
        )
        await execute(deps, command, (CallState(call_id), 0))
        desk.open_call[device.id] = call_id
        return JSONResponse({"call_id": call_id, "merged": False}, status_code=201)


def _open_call_of(deps: IntakeDeps, desk: DeviceDesk, device_id: str) -> str | None:
    live = deps.live
    remembered = desk.open_call.get(device_id)
    if remembered is not None:
        state = live.open.get(remembered)
        closed_since = state is None and live.open.is_closed(remembered)
        if not closed_since:
            return remembered
        desk.open_call.pop(device_id, None)
    for state in live.open.values():
        if state.raised is not None and state.raised.device_id == device_id:
            return state.call_id
    return None
