"""The `spanbase` command: serve, and manage API keys (also while the server runs)."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import sys
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from rich.text import Text

from spanbase.domain.keys import new_key
from spanbase.domain.spans import ENVIRONMENTS
from spanbase.settings import SETTINGS, Settings
from spanbase.storage.sql import migrate
from spanbase.storage.sql.engine import make_engine
from spanbase.storage.sql.keys import KeyStore
from spanbase.tuning import keep_freed_memory, quiet_gc

app = typer.Typer(help="spanbase: self-hosted LLM observability that speaks the Respan API.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
# Piped output (scripts, CI, `| grep`) gets a wide console, so prefixes and URLs are never wrapped.
console = Console(width=None if sys.stdout.isatty() else 200)

_SETTINGS_HELP = "\n\n".join(f"{s.env} (default {s.default!r}): {s.help}" for s in SETTINGS)


@app.command(help=f"Run the server. Settings come from the environment:\n\n{_SETTINGS_HELP}")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [SPANBASE_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [SPANBASE_PORT].")] = None,
) -> None:
    from spanbase.app import create_app

    settings = Settings.from_env(host=host, port=port)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = settings.database_url.split("@")[-1] if settings.database_url else str(settings.sqlite_path)
    application = create_app(settings, say=lambda text: console.print(text, highlight=False, markup=False))
    quiet_gc()
    # The span writer gives up the GIL for every SQL statement (sqlite3 and psycopg run without it) and
    # waits for it back behind the request handlers, up to a switch interval each time: with the
    # default 5 ms, a commit of ~40 statements waited ~200 ms. 0.5 ms measured 6,500 -> 7,500 spans/s.
    sys.setswitchinterval(0.0005)
    keep_freed_memory()  # the parse workers do the same, and quiet their GC too
    console.print(
        f"spanbase on http://{settings.host}:{settings.port}  (store: {store})", highlight=False, markup=False
    )
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal; exit 0 is a clean stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        loop="uvloop",
        http="httptools",
        access_log=False,
        timeout_graceful_shutdown=30,
    )


def _keys() -> KeyStore:
    engine = make_engine(Settings.from_env())
    migrate.upgrade(engine)
    return KeyStore(engine)


@keys_app.command("create", help="Make a new API key; it is printed once, as the last line.")
def keys_create(
    organization: Annotated[str, typer.Option(help="Organization the key belongs to (created if new).")],
    environment: Annotated[str, typer.Option(help="prod or test.")] = "prod",
    name: Annotated[str | None, typer.Option(help="A note to recognise the key by.")] = None,
) -> None:
    if environment not in ENVIRONMENTS:
        raise typer.BadParameter("must be prod or test", param_hint="--environment")
    key = new_key(environment)
    _keys().add(key, organization, environment, name=name)
    console.print(f"API key for organization {organization!r}, environment {environment!r} (shown once):", markup=False)
    print(key)


@keys_app.command("list", help="Show keys by prefix, organization, environment and creation time.")
def keys_list() -> None:
    table = Table("prefix", "organization", "environment", "name", "created", "revoked")
    table.columns[0].no_wrap = True  # a prefix is copied into `keys revoke`: never fold it
    for k in _keys().list():
        cells = (k.prefix, k.organization, k.environment, k.name or "", _when(k.created_us), _when(k.revoked_us))
        table.add_row(*(Text(c) for c in cells))  # Text: names are shown as given, never as rich markup
    console.print(table)


@keys_app.command("revoke", help="Disable the key with this prefix (as `keys list` shows it), or the key given whole.")
def keys_revoke(prefix: str) -> None:
    matched = _keys().revoke(prefix)
    if matched == 0:
        console.print(f"No active key has the prefix {prefix!r}.", markup=False)
        raise typer.Exit(1)
    if matched > 1:
        console.print(f"{matched} active keys share the prefix {prefix!r}: give the whole key.", markup=False)
        raise typer.Exit(1)
    console.print(f"Revoked {prefix}.", markup=False)


def _when(us: int | None) -> str:
    return "" if us is None else dt.datetime.fromtimestamp(us / 1e6, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def main() -> None:
    app()
