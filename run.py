#!/usr/bin/env python3
"""hallsvc's command line.

  python run.py serve --config configs/demo-hall.toml   run the hall
  python run.py serve --with-devices                     … and its devices, simulated
  python run.py serve --with-devices --visitors KEY,PW   … and people taking and calling tickets
  python run.py check-config FILE                        check a hall file (exit 2 if bad)
  python run.py hash-secret [--api-key]                  make a hash for the hall file
  python run.py openapi                                  print the OpenAPI document
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import secrets
import subprocess
import sys

from hallsvc import auth
from hallsvc.config import ConfigError, HallConfig, load_hall_file
from hallsvc.settings import Settings, SettingsError, resolve


def _load(path: str) -> HallConfig:
    try:
        return load_hall_file(path)
    except ConfigError as e:
        for line in e.problems:
            print(line, file=sys.stderr)
        raise SystemExit(2) from None


def _settings(cfg: HallConfig, args: argparse.Namespace) -> Settings:
    try:
        return resolve(cfg.server, os.environ, {
            "database_url": args.database_url, "redis_url": args.redis_url,
            "mqtt_url": args.mqtt_url, "http_host": args.host,
            "http_port": None if args.port is None else str(args.port),
            "state_dir": args.state_dir, "embedded_ports": args.embedded_ports})
    except SettingsError as e:
        print(f"hallsvc: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def _banner(cfg: HallConfig, running: object) -> None:
    from hallsvc.server import Running

    assert isinstance(running, Running)
    s = running.settings
    state = (f"{s.state_dir.resolve()} (embedded: {', '.join(running.embedded)})"
             if running.embedded else "(no embedded server)")
    print(f"""
hallsvc is serving {cfg.hall.name} ({cfg.hall.id})
  API        {running.url}/api/v1/
  API docs   {running.url}/docs   (OpenAPI: {running.url}/openapi.json)
  dashboard  {running.url}/dashboard   (manager: the hall live)
  window     {running.url}/window      (clerk: call-next and the window's verbs)
  kiosk      {running.url}/kiosk#key=<the kiosk's API key>
  reports    {running.url}/reports
  PostgreSQL {s.database_url}
  Redis      {s.redis_url}
  MQTT       {s.mqtt_url}   (topic hallsvc/{cfg.hall.id}/#)
  state      {state}
Press Ctrl-C to stop.
""", flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    settings = _settings(cfg, args)
    from hallsvc.server import serve_forever

    devices: list[subprocess.Popen[bytes]] = []

    def banner(running: object) -> None:
        _banner(cfg, running)
        if args.with_devices:
            devices.append(_simulated_hall(args.config, cfg, running))
        if args.visitors:
            devices.append(_visitors(args.config, args.visitors, running))

    try:
        import uvloop

        uvloop.run(serve_forever(cfg, settings, banner=banner))
    except KeyboardInterrupt:
        pass
    finally:
        for proc in devices:  # Ctrl-C reached it too; SIGTERM otherwise
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


def _simulated_hall(config: str, cfg: HallConfig, running: object) -> subprocess.Popen[bytes]:
    """Issue 5 demo: every device of the hall file simulated (firmware-sim/hall.py)
    on hallsvc's broker; the clerks clock in at a reader as it comes up."""
    from hallsvc.config import Role
    from hallsvc.server import Running

    assert isinstance(running, Running) and running.settings.mqtt_url
    clerks = ",".join(u.name for u in cfg.users if u.role is Role.CLERK)
    here = os.path.dirname(os.path.abspath(__file__))
    print(f"starting the simulated devices of hall {cfg.hall.id} (firmware-sim/hall.py)",
          flush=True)
    return subprocess.Popen([sys.executable, os.path.join(here, "firmware-sim", "hall.py"),
                             "--config", config, "--mqtt", running.settings.mqtt_url,
                             "--clock-in", clerks])


def cmd_check(args: argparse.Namespace) -> int:
    cfg = _load(args.file)
    print(f"{args.file}: ok: hall {cfg.hall.id}, {len(cfg.services)} services, "
          f"{len(cfg.windows)} windows, {len(cfg.users)} users")
    return 0


def cmd_hash(args: argparse.Namespace) -> int:
    if args.api_key:
        key = secrets.token_urlsafe(32)
        print(f"api key (give it to the device):  {key}")
        print(f'api_key_hash = "{auth.hash_api_key(key)}"')
        return 0
    password = args.password or getpass.getpass("password: ")
    print(f'password_hash = "{auth.hash_password(password)}"')
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    import json

    from hallsvc import __version__
    from hallsvc.http.api import openapi
    from hallsvc.http.app import api  # with every module's operations registered

    print(json.dumps(openapi(api, title="hallsvc", version=__version__), indent=2,
                     ensure_ascii=False))
    return 0


def _visitors(config: str, credentials: str, running: object) -> subprocess.Popen[bytes]:
    """Issue 7 demo: simulated applicants at a kiosk and clerks at every window
    but the first (firmware-sim/visitors.py), so the pages have traffic."""
    from hallsvc.server import Running

    assert isinstance(running, Running)
    kiosk_key, _, password = credentials.partition(",")
    here = os.path.dirname(os.path.abspath(__file__))
    print("starting simulated applicants and clerks (firmware-sim/visitors.py); "
          "window W01 is left for you", flush=True)
    print(f"  kiosk      {running.url}/kiosk#key={kiosk_key}", flush=True)
    return subprocess.Popen([sys.executable, os.path.join(here, "firmware-sim", "visitors.py"),
                             "--api", running.url, "--config", config,
                             "--kiosk-key", kiosk_key, "--clerk-password", password])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="run.py", description="hallsvc: a service hall server")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run hallsvc")
    serve.add_argument("--config", default="configs/demo-hall.toml", help="the hall file")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--state-dir", help="where embedded servers keep their data")
    serve.add_argument("--embedded-ports", metavar="PG,REDIS,MQTT",
                       help="ports of the embedded servers (default 55432,56379,51883)")
    serve.add_argument("--database-url")
    serve.add_argument("--redis-url")
    serve.add_argument("--mqtt-url")
    serve.add_argument("--log-level", default="INFO")
    serve.add_argument("--with-devices", action="store_true",
                       help="also run the hall's devices, simulated (firmware-sim/hall.py)")
    serve.add_argument("--visitors", metavar="KIOSK_KEY,CLERK_PASSWORD",
                       help="also simulate applicants at a kiosk and clerks at the windows "
                            "but the first (firmware-sim/visitors.py), with these credentials")
    serve.set_defaults(func=cmd_serve)
    check = sub.add_parser("check-config", help="check a hall file")
    check.add_argument("file")
    check.set_defaults(func=cmd_check)
    hs = sub.add_parser("hash-secret", help="hash a password or make a device API key")
    hs.add_argument("--api-key", action="store_true", help="make a new device API key")
    hs.add_argument("--password", help="(otherwise asked for)")
    hs.set_defaults(func=cmd_hash)
    oa = sub.add_parser("openapi", help="print the OpenAPI document")
    oa.set_defaults(func=cmd_openapi)
    args = p.parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
