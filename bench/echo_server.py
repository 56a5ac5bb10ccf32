"""The floor of the stack: a bare FastAPI WebSocket echo under uvicorn, configured as mythos serves.

bench/server_cost.py drives it with the same client, in the same run, as the game server, so the
game's CPU per command is read against what FastAPI, uvicorn and the WebSocket library cost by
themselves on this machine at this moment. The uvicorn options are mythos's own
(``mythos.app.uvicorn_options``): a transport setting changed there changes the floor too, so
the ratio measures the game, not the transport settings.

Run: python -m bench.echo_server PORT   (binds 127.0.0.1)
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from mythos.app import uvicorn_options

__all__ = ["HOST", "app", "main"]

HOST = "127.0.0.1"

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.websocket("/ws")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except WebSocketDisconnect:
        return


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m bench.echo_server PORT", file=sys.stderr)
        return 2
    uvicorn.Server(uvicorn.Config(app, host=HOST, port=int(args[0]), **uvicorn_options())).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
