from __future__ import annotations

import pytest

from meca.mgtr.cache import template_cache_dir
from meca.mgtr.errors import UnsafeRemoteName
from meca.mgtr.layout import (
    Manifest,
    VolumeDigest,
    check_volume_set,
    parse_config_ini,
    parse_manifest,
    render_config_ini,
)
from meca.mgtr.remote_folder import check_plain_name
from meca.mgtr.sftp_connection import InvalidSftpConnection, SftpSettings, host_key_line

CONFIG = """[template]
name = CentOS-6-x86_64
version = 01.00.00.00
os_type = CentOS 6.10 (64-bit)
format = qcow2
hypervisor = KVM
requires_hvm = no

[details]
rootDiskController = virtio
"""
SHA = "ab" * 32
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEnEws8zfFaLKsDYzrfgIevjbay2q4vCPDdtktJZQVnd"


def test_config_ini_is_read_with_defaults_and_round_trips() -> None:
    config = parse_config_ini(CONFIG, source="t/config.ini")

    assert config.format == "QCOW2"
    assert config.description == "CentOS-6-x86_64"
    assert (config.requires_hvm, config.password_enabled, config.bits) == (False, False, 64)
    assert config.details == {"rootDiskController": "virtio"}
    assert parse_config_ini(render_config_ini(config), source="again") == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = x", r"t/config\.ini: not a valid INI file"),
        ("[other]\nname = x\n", r"t/config\.ini: the \[template\] section is missing"),
        (
            CONFIG.replace("os_type = CentOS 6.10 (64-bit)\n", ""),
            r"t/config\.ini: \[template\] os_type is missing",
        ),
        (CONFIG.replace("qcow2", "vmdk"), r"format = 'VMDK' is not one of"),
        (
            CONFIG.replace("requires_hvm = no", "requires_hvm = maybe"),
            r"requires_hvm = 'maybe' is not a boolean",
        ),
    ],
)
def test_malformed_config_ini_names_the_file_and_key(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_config_ini(text, source="t/config.ini")


def manifest() -> Manifest:
    return Manifest(
        volumes={f"img.7z.{number:03d}": VolumeDigest(size=10, sha256=SHA) for number in (1, 2, 3)},
        image_name="img.qcow2",
        image_size=25,
        image_sha256=SHA,
    )


def test_manifest_round_trips() -> None:
    assert parse_manifest(manifest().to_json(), source="m") == manifest()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace('"format": 1', '"format": 2'), "format is 2, expected 1"),
        (lambda text: text.replace(SHA, "xyz", 1), r"image\.sha256 is not 64 hex digits"),
        (lambda text: text.replace("img.7z.002", "../img.7z.002"), r"'\.\./img\.7z\.002'.*not volume names"),
        (lambda text: text.replace("img.7z.002", "img.7z.004"), r"missing volume\(s\) img\.7z\.002"),
        (lambda text: "[", "not valid JSON"),
    ],
)
def test_bad_manifest_is_refused(edit, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_manifest(edit(manifest().to_json()), source="m")


def test_volume_set_is_ordered_numerically_and_complete() -> None:
    names = [f"a.7z.{number:03d}" for number in range(1, 1001)]
    assert check_volume_set(list(reversed(names)), source="s") == names
    with pytest.raises(ValueError, match="several archives"):
        check_volume_set(["a.7z.001", "b.7z.001"], source="s")


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "/etc", "a\\b", "x\x00"])
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeRemoteName, match="unsafe name"):
        check_plain_name(name, where="/MGTR/t")


def test_cache_folder_never_leaves_the_cache(tmp_path) -> None:
    assert template_cache_dir(tmp_path, "/MGTR/a/01/") == tmp_path / "MGTR" / "a" / "01"
    with pytest.raises(UnsafeRemoteName):
        template_cache_dir(tmp_path, "/MGTR/../../etc")


class Conn:
    conn_id = "mgtr"
    host = "127.0.0.1"
    port = 2222
    login = "mgtr"
    password = None

    def __init__(self, **extra) -> None:
        self.extra_dejson = extra


def test_sftp_connection_accepts_a_bare_host_key_blob_and_refuses_no_check(tmp_path) -> None:
    key = tmp_path / "key"
    key.write_text("unused")
    blob = HOST_KEY.split()[1]

    assert host_key_line("127.0.0.1", 2222, blob) == f"[127.0.0.1]:2222 {HOST_KEY}"
    with pytest.raises(InvalidSftpConnection, match="no_host_key_check is true"):
        SftpSettings.from_connection(Conn(key_file=str(key), no_host_key_check=True))
    with pytest.raises(InvalidSftpConnection, match="no host key"):
        SftpSettings.from_connection(Conn(key_file=str(key)))
    with pytest.raises(InvalidSftpConnection, match="cannot load the client key"):
        SftpSettings.from_connection(Conn(key_file=str(key), host_key=HOST_KEY))
