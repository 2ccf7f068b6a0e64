#!/usr/bin/env python3
"""Validate the compose files where Docker is absent (CI).

1. Both files against the Compose Specification JSON schema (compose-spec.json here, from
   github.com/compose-spec/compose-spec, schema/compose-spec.json at 170098ba, Apache-2.0).
2. The full stack's own rules (deploy/compose.full.yaml): every service has a healthcheck,
   every dependency waits for `service_healthy` on a service that has one, the start order is
   postgres → redis → app → edge, only the edge is published beyond loopback, mounted files
   exist, the app trusts exactly the edge's fixed address, and nginx and Prometheus point at
   services that exist.

Needs PyYAML and jsonschema (Debian: python3-yaml python3-jsonschema). Prints what it checked;
exits non-zero naming the first broken rule.
"""
import ipaddress
import json
import re
import sys
from pathlib import Path

import jsonschema
import yaml

DEPLOY = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((DEPLOY / "check" / "compose-spec.json").read_text())


def fail(msg):
    sys.exit(f"compose check FAILED: {msg}")


def load(name):
    doc = yaml.safe_load((DEPLOY / name).read_text())
    try:
        jsonschema.validate(doc, SCHEMA)
    except jsonschema.ValidationError as e:
        fail(f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
    print(f"ok: {name} matches the Compose Specification schema")
    return doc


def depends(services, name):
    deps = services[name].get("depends_on") or {}
    return deps if isinstance(deps, dict) else {d: {} for d in deps}


def reaches(services, start, goal, seen=()):
    """`start` (transitively) waits for `goal`."""
    return any(d == goal or (d not in seen and reaches(services, d, goal, seen + (d,)))
               for d in depends(services, start))


def main():
    load("compose.yaml")
    full = load("compose.full.yaml")
    services = full["services"]

    for want in ["postgres", "redis", "app-1", "app-2", "edge", "prometheus", "grafana"]:
        if want not in services:
            fail(f"service {want} missing")
    if not services["postgres"]["image"].startswith("postgres:16"):
        fail("postgres must be version 16")
    if not services["redis"]["image"].startswith("redis:7"):
        fail("redis must be version 7")

    for name, svc in services.items():
        hc = svc.get("healthcheck")
        if not hc or hc.get("disable") or not hc.get("test"):
            fail(f"{name} has no healthcheck")
        for dep, cond in depends(services, name).items():
            if dep not in services:
                fail(f"{name} depends on unknown {dep}")
            if cond.get("condition") != "service_healthy":
                fail(f"{name} → {dep} must wait for condition: service_healthy")
        image = svc.get("image", "")
        if "build" not in svc and (":" not in image or image.endswith(":latest")):
            fail(f"{name}: pin the image version ({image!r})")
        for port in svc.get("ports", []):
            if name != "edge" and not str(port).startswith("127.0.0.1:"):
                fail(f"{name} publishes {port} beyond loopback; only the edge may")
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                if not (DEPLOY / src).exists():
                    fail(f"{name} mounts {src}, which does not exist")
    print("ok: every service has a healthcheck and waits for healthy dependencies")

    for later, earlier in [("redis", "postgres"), ("app-1", "redis"), ("app-1", "postgres"),
                           ("edge", "app-1"), ("prometheus", "app-1"), ("grafana", "prometheus")]:
        if not reaches(services, later, earlier):
            fail(f"{later} does not wait for {earlier}")
    print("ok: start order postgres → redis → app → edge (and app → prometheus → grafana)")

    edge_ip = services["edge"]["networks"]["backend"]["ipv4_address"]
    subnet = full["networks"]["backend"]["ipam"]["config"][0]["subnet"]
    if ipaddress.ip_address(edge_ip) not in ipaddress.ip_network(subnet):
        fail(f"edge address {edge_ip} outside {subnet}")
    for name in ["app-1", "app-2"]:
        trusted = services[name]["environment"].get("APP__SECURITY__TRUSTED_PROXIES")
        if trusted != edge_ip:
            fail(f"{name} trusts {trusted!r}, the edge is {edge_ip}")
    print(f"ok: the app trusts X-Forwarded-For from the edge ({edge_ip}) only")

    upstream = (DEPLOY / "nginx" / "upstream.conf").read_text()
    hosts = re.findall(r"^\s*server\s+([\w.-]+):\d+", upstream, re.M)
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [t.split(":")[0] for sc in prom["scrape_configs"]
               for st in sc["static_configs"] for t in st["targets"]]
    for host in hosts + targets:
        if host not in services:
            fail(f"{host} (nginx upstream / Prometheus target) is not a service")
        if services[host].get("profiles"):
            fail(f"{host} is in a profile: nginx and Prometheus must not require it")
    if not hosts or not targets:
        fail("no nginx upstream servers or Prometheus targets found")
    print(f"ok: nginx upstream {hosts} and Prometheus targets {targets} are services")


if __name__ == "__main__":
    main()
