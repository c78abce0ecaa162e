"""The simulated federation read from YAML: regions, zones, hosts, offerings, templates and timings.

Top-level keys: ``seed``, ``regions`` and, as defaults for every region, ``service_offerings``,
``templates``, ``timings``, ``background_load`` and ``configurations`` (a region may override each; a
region's ``background_load: null`` turns the default off; a region's ``configurations`` are merged
over the default ones). Unknown keys are refused with a
``ValueError`` naming the region and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cloudstack_simulator.background_load import BackgroundLoadSpec
from cloudstack_simulator.configurations import Settings
from cloudstack_simulator.faults import Faults
from cloudstack_simulator.ids import derive_key
from cloudstack_simulator.ostypes import OS_TYPES

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
FORMATS = ("QCOW2", "RAW", "VHD", "VHDX", "OVA", "ISO")
HYPERVISORS = ("KVM", "XenServer", "VMware", "Hyperv", "LXC", "Ovm3", "Simulator")


@dataclass(frozen=True)
class HostSpec:
    """One hypervisor host.

    :param name: host name.
    :param cpu_cores: physical cores.
    :param cpu_mhz: speed of one core in MHz.
    :param memory_gib: memory in GiB.
    :param hypervisor: hypervisor type, e.g. ``KVM``.
    """

    name: str
    cpu_cores: int
    cpu_mhz: int
    memory_gib: float
    hypervisor: str = "KVM"


@dataclass(frozen=True)
class ZoneSpec:
    """One availability zone and the capacities its capacity types are computed from.

    :param name: zone name.
    :param hosts: the hosts, filled first-fit.
    :param primary_storage_gib: primary storage pool size (capacity type 2 total).
    :param preallocated_storage_gib: volumes that exist outside the simulated VMs (system VMs,
        older data), counted in primary storage allocated and used.
    :param storage_overprovisioning: factor on primary size giving the allocated total (type 3).
    :param secondary_storage_gib: secondary storage size (type 6).
    :param management_ips: pod management IP range size (type 5).
    :param shared_network_ips: shared guest network range size (type 8); one per VM NIC.
    :param public_ips: virtual network public IPs (type 4).
    :param vlans: guest VLAN range size (type 7).
    """

    name: str
    hosts: tuple[HostSpec, ...]
    primary_storage_gib: float
    secondary_storage_gib: float
    management_ips: int
    shared_network_ips: int
    preallocated_storage_gib: float = 0.0
    storage_overprovisioning: float = 1.0
    public_ips: int = 0
    vlans: int = 100


@dataclass(frozen=True)
class OfferingSpec:
    """A compute (service) offering.

    :param name: offering name, e.g. ``Small``.
    :param cpu_number: vCPUs.
    :param cpu_speed: MHz per vCPU.
    :param memory: MiB.
    :param display_text: description; defaults to a generated one.
    """

    name: str
    cpu_number: int
    cpu_speed: int
    memory: int
    display_text: str = ""


@dataclass(frozen=True)
class TemplateSpec:
    """A template present and Ready in every zone of the region from the start.

    :param name: template name.
    :param os_type: description of one of the OS types (``ostypes.OS_TYPES``).
    :param virtual_size_gib: root disk size of VMs made from it.
    :param physical_size_mib: bytes on secondary storage (and thin on primary), in MiB.
    :param format: image format.
    :param hypervisor: hypervisor type.
    :param featured: listed by ``templatefilter=featured``.
    :param public: visible to every account.
    :param display_text: description; defaults to the name.
    :param url: where it was registered from.
    """

    name: str
    os_type: str
    virtual_size_gib: float
    physical_size_mib: float
    format: str = "QCOW2"
    hypervisor: str = "KVM"
    featured: bool = True
    public: bool = True
    display_text: str = ""
    url: str = ""


@dataclass(frozen=True)
class Timings:
    """Durations of async jobs (seconds, before ``faults.job_slowdown``) and retention windows.

    :param deploy_s: deployVirtualMachine.
    :param start_s: startVirtualMachine.
    :param stop_s: stopVirtualMachine.
    :param destroy_s: destroyVirtualMachine.
    :param tags_s: createTags and deleteTags.
    :param template_delete_s: deleteTemplate.
    :param job_retention_s: finished jobs older than this are forgotten by housekeeping.
    :param expunge_delay_s: Destroyed and Error VMs older than this are expunged by housekeeping.
    """

    deploy_s: float = 2.0
    start_s: float = 1.0
    stop_s: float = 1.0
    destroy_s: float = 1.0
    tags_s: float = 0.2
    template_delete_s: float = 0.5
    job_retention_s: float = 900.0
    expunge_delay_s: float = 900.0


@dataclass
class RegionSpec:
    """One region: a CloudStack management server with its own endpoint and keys.

    :param name: region name, e.g. ``MECA-PolITO``.
    :param id: the integer region id.
    :param port: TCP port, 0 for a free one.
    :param api_key: the admin API key.
    :param secret_key: the admin secret key (never logged).
    :param display_name: a human name for pages.
    :param location: ``city``, ``country``, ``lat``, ``lon``.
    :param colour: ``#rrggbb`` for maps and charts.
    :param faults: injected faults, changed at run time.
    :param zones: the zones.
    :param offerings: compute offerings.
    :param templates: templates Ready from the start.
    :param timings: job durations and retention.
    :param os_types: (category, description) pairs offered by listOsTypes.
    :param background_load: memory and CPU used by tenants outside the model, or ``None``.
    :param seed: the topology's seed (seeds the background load's jitter).
    :param configurations: the global settings ``listConfigurations`` shows (capacity thresholds),
        changed at run time.
    """

    name: str
    id: int
    port: int
    api_key: str
    secret_key: str = field(repr=False)
    display_name: str
    location: dict[str, Any]
    colour: str
    faults: Faults
    zones: list[ZoneSpec]
    offerings: list[OfferingSpec]
    templates: list[TemplateSpec]
    timings: Timings
    os_types: tuple[tuple[str, str], ...] = OS_TYPES
    background_load: BackgroundLoadSpec | None = None
    seed: int = 0
    configurations: Settings = field(default_factory=Settings)


@dataclass
class Topology:
    """A whole simulated federation.

    :param seed: seeds every region's RNG and derives keys not given.
    :param regions: the regions, in file order.
    """

    seed: int
    regions: list[RegionSpec]


class _Section:
    """A mapping read with checks; every error names where it is (region, zone, ...)."""

    def __init__(self, data: Any, where: str, known: set[str]) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
        self.data = data
        self.where = where

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                raise ValueError(f"{self.where}: missing key {key!r}")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise ValueError(f"{self.where}: key {key!r} must not be a boolean")
        if not isinstance(value, kind):
            raise ValueError(f"{self.where}: key {key!r} has the wrong type {type(value).__name__}")
        return value

    def number(self, key: str, default: Any = ..., minimum: float = 0.0) -> float:
        value = self.get(key, (int, float), default)
        if value < minimum:
            raise ValueError(f"{self.where}: key {key!r} must be >= {minimum}, got {value}")
        return float(value)

    def integer(self, key: str, default: Any = ..., minimum: int = 0) -> int:
        value = self.get(key, int, default)
        if value < minimum:
            raise ValueError(f"{self.where}: key {key!r} must be >= {minimum}, got {value}")
        return int(value)


def _host(data: Any, where: str) -> HostSpec:
    s = _Section(data, where, {"name", "cpu_cores", "cpu_mhz", "memory_gib", "hypervisor"})
    hypervisor = s.get("hypervisor", str, "KVM")
    if hypervisor not in HYPERVISORS:
        raise ValueError(f"{where}: hypervisor {hypervisor!r} not one of {HYPERVISORS}")
    return HostSpec(
        name=s.get("name", str),
        cpu_cores=s.integer("cpu_cores", minimum=1),
        cpu_mhz=s.integer("cpu_mhz", minimum=1),
        memory_gib=s.number("memory_gib", minimum=0.001),
        hypervisor=hypervisor,
    )


def _zone(data: Any, where: str) -> ZoneSpec:
    keys = {
        "name",
        "hosts",
        "primary_storage_gib",
        "preallocated_storage_gib",
        "storage_overprovisioning",
        "secondary_storage_gib",
        "management_ips",
        "shared_network_ips",
        "public_ips",
        "vlans",
    }
    s = _Section(data, where, keys)
    name = s.get("name", str)
    hosts_data = s.get("hosts", list)
    if not hosts_data:
        raise ValueError(f"{where}: a zone needs at least one host")
    hosts = tuple(_host(h, f"{where}: host #{i}") for i, h in enumerate(hosts_data))
    management_ips = s.integer("management_ips", minimum=len(hosts) + 2)
    if management_ips > 240:
        raise ValueError(f"{where}: management_ips must be at most 240, got {management_ips}")
    shared_ips = s.integer("shared_network_ips")
    if shared_ips > 4000:
        raise ValueError(f"{where}: shared_network_ips must be at most 4000, got {shared_ips}")
    return ZoneSpec(
        name=name,
        hosts=hosts,
        primary_storage_gib=s.number("primary_storage_gib"),
        preallocated_storage_gib=s.number("preallocated_storage_gib", 0.0),
        storage_overprovisioning=s.number("storage_overprovisioning", 1.0, minimum=0.001),
        secondary_storage_gib=s.number("secondary_storage_gib"),
        management_ips=management_ips,
        shared_network_ips=shared_ips,
        public_ips=s.integer("public_ips", 0),
        vlans=s.integer("vlans", 100),
    )


def _offering(data: Any, where: str) -> OfferingSpec:
    s = _Section(data, where, {"name", "cpu_number", "cpu_speed", "memory", "display_text"})
    name = s.get("name", str)
    cpu, speed, memory = (
        s.integer("cpu_number", minimum=1),
        s.integer("cpu_speed", minimum=1),
        s.integer("memory", minimum=1),
    )
    text = s.get("display_text", str, f"{name} instance: {cpu} vCPU, {speed} MHz, {memory} MB RAM")
    return OfferingSpec(name=name, cpu_number=cpu, cpu_speed=speed, memory=memory, display_text=text)


def _template(data: Any, where: str) -> TemplateSpec:
    keys = {
        "name",
        "os_type",
        "virtual_size_gib",
        "physical_size_mib",
        "format",
        "hypervisor",
        "featured",
        "public",
        "display_text",
        "url",
    }
    s = _Section(data, where, keys)
    name = s.get("name", str)
    os_type = s.get("os_type", str)
    if os_type not in {d for _, d in OS_TYPES}:
        raise ValueError(f"{where}: os_type {os_type!r} is not a known OS type description")
    fmt = s.get("format", str, "QCOW2")
    if fmt not in FORMATS:
        raise ValueError(f"{where}: format {fmt!r} not one of {FORMATS}")
    hypervisor = s.get("hypervisor", str, "KVM")
    if hypervisor not in HYPERVISORS:
        raise ValueError(f"{where}: hypervisor {hypervisor!r} not one of {HYPERVISORS}")
    return TemplateSpec(
        name=name,
        os_type=os_type,
        virtual_size_gib=s.number("virtual_size_gib", minimum=0.001),
        physical_size_mib=s.number("physical_size_mib", minimum=0.001),
        format=fmt,
        hypervisor=hypervisor,
        featured=s.get("featured", bool, True),
        public=s.get("public", bool, True),
        display_text=s.get("display_text", str, name),
        url=s.get("url", str, ""),
    )


def _timings(data: Any, where: str) -> Timings:
    defaults = Timings()
    names = set(defaults.__dataclass_fields__)
    s = _Section(data, where, names)
    return Timings(**{n: s.number(n, getattr(defaults, n)) for n in sorted(names)})


def _background_load(data: Any, where: str) -> BackgroundLoadSpec | None:
    if data is None:
        return None
    defaults = BackgroundLoadSpec()
    names = set(defaults.__dataclass_fields__)
    s = _Section(data, where, names)
    values = {n: s.number(n, getattr(defaults, n)) for n in sorted(names)}
    try:
        return BackgroundLoadSpec(**values)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _unique(names: list[str], what: str, where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{where}: duplicate {what} {name!r}")
        seen.add(name)


def _location(data: Any, where: str) -> dict[str, Any]:
    s = _Section(data, where, {"city", "country", "lat", "lon"})
    lat, lon = s.get("lat", (int, float)), s.get("lon", (int, float))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{where}: lat/lon out of range: {lat}, {lon}")
    return {"city": s.get("city", str), "country": s.get("country", str), "lat": lat, "lon": lon}


def _region(data: Any, seed: int, defaults: dict[str, Any], index: int) -> RegionSpec:
    keys = {
        "name",
        "id",
        "port",
        "api_key",
        "secret_key",
        "display_name",
        "location",
        "colour",
        "faults",
        "zones",
        "service_offerings",
        "templates",
        "timings",
        "background_load",
        "configurations",
    }
    name = data.get("name") if isinstance(data, dict) else None
    where = f"region {name!r}" if isinstance(name, str) else f"region #{index}"
    s = _Section(data, where, keys)
    name = s.get("name", str)
    colour = s.get("colour", str)
    if not _COLOUR.match(colour):
        raise ValueError(f"{where}: colour must look like #1f77b4, got {colour!r}")
    try:
        faults = Faults.from_mapping(s.get("faults", dict, {}))
    except ValueError as exc:
        raise ValueError(f"{where}: faults: {exc}") from None
    zones = [_zone(z, f"{where}: zone #{i}") for i, z in enumerate(s.get("zones", list))]
    if not zones:
        raise ValueError(f"{where}: a region needs at least one zone")
    _unique([z.name for z in zones], "zone", where)
    offerings_data = s.get("service_offerings", list, defaults["service_offerings"])
    offerings = [_offering(o, f"{where}: service offering #{i}") for i, o in enumerate(offerings_data)]
    _unique([o.name for o in offerings], "service offering", where)
    templates_data = s.get("templates", list, defaults["templates"])
    templates = [_template(t, f"{where}: template #{i}") for i, t in enumerate(templates_data)]
    _unique([t.name for t in templates], "template", where)
    try:
        configurations = Settings({**defaults["configurations"], **s.get("configurations", dict, {})})
    except ValueError as exc:
        raise ValueError(f"{where}: configurations: {exc}") from None
    port = s.integer("port", 0)
    if port > 65535:
        raise ValueError(f"{where}: port out of range: {port}")
    return RegionSpec(
        name=name,
        id=s.integer("id", minimum=1),
        port=port,
        api_key=s.get("api_key", str, derive_key(seed, name, "api")),
        secret_key=s.get("secret_key", str, derive_key(seed, name, "secret")),
        display_name=s.get("display_name", str, name),
        location=_location(s.get("location", dict), f"{where}: location"),
        colour=colour,
        faults=faults,
        zones=zones,
        offerings=offerings,
        templates=templates,
        timings=_timings(s.get("timings", dict, defaults["timings"]), f"{where}: timings"),
        background_load=_background_load(
            s.get("background_load", (dict, type(None)), defaults["background_load"]),
            f"{where}: background_load",
        ),
        seed=seed,
        configurations=configurations,
    )


def load_topology_mapping(data: dict[str, Any]) -> Topology:
    """Build a topology from its mapping form (the parsed YAML).

    :param data: the mapping.
    :raises ValueError: naming the region and key when something is malformed.
    """
    s = _Section(
        data,
        "topology",
        {"seed", "regions", "service_offerings", "templates", "timings", "background_load", "configurations"},
    )
    seed = s.integer("seed", 0)
    defaults = {
        "service_offerings": s.get("service_offerings", list, []),
        "templates": s.get("templates", list, []),
        "timings": s.get("timings", dict, {}),
        "background_load": s.get("background_load", dict, None),
        "configurations": s.get("configurations", dict, {}),
    }
    regions_data = s.get("regions", list)
    if not regions_data:
        raise ValueError("topology: at least one region is needed")
    regions = [_region(r, seed, defaults, i) for i, r in enumerate(regions_data)]
    _unique([r.name for r in regions], "region name", "topology")
    _unique([str(r.id) for r in regions], "region id", "topology")
    _unique([r.api_key for r in regions], "api_key", "topology")
    fixed_ports = [str(r.port) for r in regions if r.port]
    _unique(fixed_ports, "port", "topology")
    for region in regions:
        if not region.offerings:
            raise ValueError(f"region {region.name!r}: no service_offerings (neither own nor default)")
    return Topology(seed=seed, regions=regions)


def load_topology(path: Path) -> Topology:
    """Read a topology YAML file.

    :param path: the file.
    :raises ValueError: when the file is malformed (the message names the file).
    """
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    try:
        return load_topology_mapping(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
