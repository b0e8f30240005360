"""`tape blotter`: serve a day's blotter; `tape blotter add-user`: give someone a token.

The server's modules (Starlette, uvicorn) are imported when the command runs,
so that `tape` itself starts no slower for them.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from blotter.auth import User

app = typer.Typer(help="The web blotter: the day's orders, alerts and market health in a "
                  "browser (docs/blotter.md).", no_args_is_help=False,
                  invoke_without_command=True)

_DAY = typer.Option("--day", help="The day folder.", exists=False, file_okay=False)


@app.callback()
def blotter(
    ctx: typer.Context,
    day: Annotated[Path | None, _DAY] = None,
    port: Annotated[int, typer.Option(help="The TCP port (0: any free one, printed).")] = 8080,
    host: Annotated[str, typer.Option(help="The address to listen on; 127.0.0.1 keeps it "
                                      "to this machine.")] = "127.0.0.1",
    users: Annotated[Path | None, typer.Option(
        help="The users file (default DAY/config/blotter_users.toml).")] = None,
    at: Annotated[int | None, typer.Option(
        help="Show the day as it stood at this seq (no actions).", min=1)] = None,
    batch_ms: Annotated[int, typer.Option(
        help="How often changes are pushed to the pages (ms): a row changes at most "
             "1000/batch_ms times a second.", min=20, max=5000)] = 250,
    stale_s: Annotated[float, typer.Option(
        help="A symbol's quotes older than this (stream seconds) are stale.", min=0.1)] = 5.0,
    allow_origin: Annotated[list[str] | None, typer.Option(
        help="Another origin the WebSocket accepts (a proxy in front), besides the "
             "page's own; repeatable.")] = None,
) -> None:
    """Serve DAY's blotter on http://HOST:PORT/ until stopped (Ctrl-C or SIGTERM)."""
    if ctx.invoked_subcommand is not None:
        return
    if day is None:
        typer.echo("error: --day is required (the day folder to show)", err=True)
        raise typer.Exit(2)
    from blotter.auth import UsersError, default_users_file, load_users
    from blotter.server import BlotterError

    if not (day / "journal").exists() and not (day / "config" / "day.json").exists():
        typer.echo(f"error: {day}: not a day folder (no journal, no config/day.json)",
                   err=True)
        raise typer.Exit(2)
    try:
        table = load_users(users or default_users_file(day))
    except UsersError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    try:
        asyncio.run(serve(day, table, host=host, port=port, at=at, batch_ms=batch_ms,
                          stale_s=stale_s, allow_origins=tuple(allow_origin or ())))
    except BlotterError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass


async def serve(day: Path, users: dict[str, User], *, host: str, port: int,
                at: int | None, batch_ms: int, stale_s: float,
                allow_origins: tuple[str, ...]) -> None:
    """Run the server; print one JSON line ({"ready": "blotter", "url", "seq"}) once it
    listens and has caught up with the journal."""
    import uvicorn

    from blotter.server import Blotter, BlotterError, make_app
    from sequencer.logs import configure

    configure(day, "blotter")
    b = Blotter(day, users, at=at, batch_ms=batch_ms, stale_s=stale_s,
                allow_origins=allow_origins)
    server = uvicorn.Server(uvicorn.Config(make_app(b), host=host, port=port,
                                           log_level="warning", ws="websockets-sansio",
                                           lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            raise BlotterError(f"cannot listen on {host}:{port} (in use?)")
        await asyncio.sleep(0.05)
    await b.caught_up.wait()
    bound = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://{host}:{bound}/"
    print(json.dumps({"ready": "blotter", "url": url, "seq": b.live.model.seq,
                      "mode": b.mode}), flush=True)
    print(f"blotter of {day} at {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    await task


@app.command("add-user")
def add_user_cmd(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    role: Annotated[str, typer.Option(help="viewer (sees) or operator (sees and acts).")] =
    "viewer",
    day: Annotated[Path | None, _DAY] = None,
    users: Annotated[Path | None, typer.Option(help="The users file (default "
                                               "DAY/config/blotter_users.toml).")] = None,
) -> None:
    """Add a user (or give one a new token) and print the token, once: it is stored only
    as its SHA-256."""
    from blotter.auth import ROLES, UsersError, add_user, default_users_file

    if users is not None:
        path = users
    elif day is not None:
        path = default_users_file(day)
    else:
        typer.echo("error: give --day or --users", err=True)
        raise typer.Exit(2)
    if role not in ROLES:
        typer.echo(f"error: --role: expected one of {', '.join(ROLES)}, got {role!r}",
                   err=True)
        raise typer.Exit(2)
    try:
        token = add_user(path, name, "operator" if role == "operator" else "viewer")
    except UsersError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps({"user": name, "role": role, "token": token, "file": str(path)}))
