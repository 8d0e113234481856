"""`/_emulator/...`: the emulator's own controls (stats, ground truth, clock, mutations, faults, latency)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .faults import FaultConfig
from .responses import JsonResponse
from .rows import iso

if TYPE_CHECKING:
    from .server import Emulator


class Admin:
    """`/_emulator/...`: drive the clock, mutations and faults over HTTP (no auth; loopback only)."""

    OPS = ("create_ticket", "update_ticket", "add_conversation", "resolve_ticket", "delete_ticket",
           "spam_ticket", "restore_ticket", "edit_article", "unpublish_article", "publish_article",
           "move_article", "delete_article", "add_article", "add_category", "add_folder", "corrupt_ticket",
           "repair_ticket", "mutate_random")

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    async def stats(self, request: Request) -> Response:
        if request.method == "POST":
            self.emu.stats.reset()
        return JsonResponse({**self.emu.stats.snapshot(), "desk": self.emu.desk.counts(),
                             "now": iso(self.emu.clock.timestamp())})

    async def ground_truth(self, request: Request) -> Response:
        return JsonResponse({str(k): v for k, v in self.emu.ground_truth.items()})

    async def clock(self, request: Request) -> Response:
        if request.method == "POST":
            data = await request.json()
            if "set" in data:
                self.emu.clock.set(datetime.fromisoformat(str(data["set"]).replace("Z", "+00:00")))
            if "advance" in data:
                self.emu.clock.advance(float(data["advance"]))
        return JsonResponse({"now": iso(self.emu.clock.timestamp())})

    async def mutate(self, request: Request) -> Response:
        data = dict(await request.json())
        op = data.pop("op", None)
        if op not in self.OPS:
            return JsonResponse({"error": f"op must be one of {list(self.OPS)}"}, status_code=400)
        try:
            result = getattr(self.emu, op)(**data)
        except (KeyError, ValueError, TypeError) as exc:
            return JsonResponse({"error": str(exc)}, status_code=400)
        return JsonResponse({"op": op, "result": result, "now": iso(self.emu.clock.timestamp())})

    async def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.emu.set_faults(None)
        elif request.method == "POST":
            try:
                self.emu.set_faults(FaultConfig.from_dict(await request.json()))
            except (TypeError, ValueError) as exc:
                return JsonResponse({"error": str(exc)}, status_code=400)
        return JsonResponse({"faults": repr(self.emu.fault_config)})

    async def latency(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.emu.set_latency(0, 0)
        elif request.method == "POST":
            try:
                data = await request.json()
                if not isinstance(data, dict) or set(data) - {"latency_ms", "jitter_ms"}:
                    raise ValueError("send {\"latency_ms\": N, \"jitter_ms\": N}")
                self.emu.set_latency(data.get("latency_ms", 0), data.get("jitter_ms", 0))
            except (TypeError, ValueError) as exc:
                return JsonResponse({"error": str(exc)}, status_code=400)
        return JsonResponse(self.emu.latency.as_dict())

    def routes(self) -> list[Route]:
        return [
            Route("/_emulator/stats", self.stats, methods=["GET", "POST"]),
            Route("/_emulator/ground_truth", self.ground_truth, methods=["GET"]),
            Route("/_emulator/clock", self.clock, methods=["GET", "POST"]),
            Route("/_emulator/mutate", self.mutate, methods=["POST"]),
            Route("/_emulator/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/_emulator/latency", self.latency, methods=["GET", "POST", "DELETE"]),
        ]
