"""Where alerts may be sent: receiver URLs are checked when a team's receivers are set and again, against the
addresses the host resolves to, at every delivery (a name that resolved to a public address yesterday may resolve
to 127.0.0.1 today: DNS rebinding). A delivery then connects to the address that was checked, not to whatever a
second lookup returns.

Refused unless the allow-list names the host or a network holding its address: loopback, private, link-local,
carrier-grade NAT, multicast, reserved and unspecified addresses, and the cloud metadata endpoints. In production
only `https` is accepted."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class UnsafeReceiver(ValueError):
    """A receiver URL that Journeyline will not call; the message says why."""


@dataclass(frozen=True)
class ReceiverPolicy:
    https_only: bool
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[Network, ...] = ()

    @classmethod
    def from_setting(cls, allow: str, *, https_only: bool) -> ReceiverPolicy:
        """`allow`: comma-separated host names, addresses or networks (`hooks.internal, 10.1.0.0/16, 127.0.0.1`)."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for item in (part.strip().lower() for part in allow.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.rstrip("."))
        return cls(https_only=https_only, allowed_hosts=frozenset(hosts), allowed_networks=tuple(networks))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allowed_hosts

    def address_allowed(self, address: Address) -> bool:
        return any(address in network for network in self.allowed_networks)


def parse(url: str, policy: ReceiverPolicy) -> SplitResult:
    """The URL's parts, if its form is acceptable (scheme, a host, no credentials); else UnsafeReceiver."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UnsafeReceiver(f"not a valid URL: {exc}") from None
    allowed_schemes = ("https",) if policy.https_only else ("http", "https")
    if parts.scheme not in allowed_schemes:
        raise UnsafeReceiver(f"the URL must use {' or '.join(allowed_schemes)}")
    if not parts.hostname:
        raise UnsafeReceiver("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeReceiver("the URL must not carry credentials")
    host = parts.hostname.lower().rstrip(".")
    if host in METADATA_HOSTS and not policy.host_allowed(host):
        raise UnsafeReceiver(f"{host} is a cloud metadata endpoint")
    return parts


def check_address(host: str, address: Address, policy: ReceiverPolicy) -> None:
    """Refuse an address a receiver must not be on, unless the allow-list names the host or the address."""
    if policy.host_allowed(host) or policy.address_allowed(address):
        return
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        raise UnsafeReceiver(f"{host} is a cloud metadata endpoint")
    if (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address in _CGNAT
    ):
        raise UnsafeReceiver(f"{host} resolves to {address}, an internal address (allow it with the allow-list)")


def literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (a literal address resolves to itself)."""
    found = literal_address(host)
    if found is not None:
        return [found]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def check_receiver(url: str, policy: ReceiverPolicy) -> None:
    """When a receiver is set: the URL's form and every address its host resolves to now. A name that does not
    resolve yet is let through: every delivery resolves and checks it again."""
    parts = parse(url, policy)
    host = (parts.hostname or "").lower()
    address = literal_address(host)
    if address is not None:
        check_address(host, address, policy)
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        return
    for info in infos:
        check_address(host, ipaddress.ip_address(info[4][0]), policy)


@dataclass(frozen=True)
class PinnedTarget:
    """A request to make: the URL with the checked address in place of the name, and the name for Host and TLS."""

    url: str
    host_header: str
    server_name: str


async def pin(url: str, policy: ReceiverPolicy) -> PinnedTarget:
    """Resolve the receiver's host now, refuse it if any address is not allowed, and aim at the first address."""
    parts = parse(url, policy)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await resolve(host, port)
    except OSError as exc:
        raise UnsafeReceiver(f"{host} does not resolve: {exc}") from None
    if not addresses:
        raise UnsafeReceiver(f"{host} does not resolve")
    for address in addresses:
        check_address(host, address, policy)
    first = addresses[0]
    netloc = f"[{first}]" if first.version == 6 else str(first)
    if parts.port:
        netloc += f":{parts.port}"
    host_header = parts.netloc.rpartition("@")[2]
    return PinnedTarget(urlunsplit(parts._replace(netloc=netloc)), host_header, host)
