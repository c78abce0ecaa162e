from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from meca.mgtr.cache import PartialVolume, TemplateCache, template_cache_dir
from meca.mgtr.errors import HostKeyRejected, TemplateFetchError, UnsafeRemoteName, VolumeFetchError
from meca.mgtr.layout import MANIFEST_NAME
from meca.mgtr.progress import TransferProgress
from meca.mgtr.transfer import FetchResult, fetch_template, fetch_template_async
from mgtr_repository.server import MgtrServerHandle
from netshape.process import run_shaping_proxy
from tests.meca.mgtr.mgtr_helpers import TEMPLATE, VOLUME_SIZE, publish_template, settings_for


def fetch(server: MgtrServerHandle, cache: Path, *, port: int | None = None, **options) -> FetchResult:
    return asyncio.run(
        fetch_template_async(settings_for(server, port=port), server.remote_path(TEMPLATE), cache, **options)
    )


def assert_same_files(fetched: list[Path], published: list[Path]) -> None:
    assert [path.name for path in fetched] == [path.name for path in published]
    for mine, theirs in zip(fetched, published, strict=True):
        assert mine.read_bytes() == theirs.read_bytes(), mine.name


def test_fetch_through_airflow_connection_then_cache_hit(
    repository: Path, mgtr_server: MgtrServerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, published = publish_template(repository, TEMPLATE)
    for name, value in mgtr_server.connection_env("mgtr_test").items():
        monkeypatch.setenv(name, value)
    reports: list[TransferProgress] = []
    cache = tmp_path / "cache"

    first = fetch_template("mgtr_test", mgtr_server.remote_path(TEMPLATE), cache, progress=reports.append)

    total = sum(path.stat().st_size for path in published)
    assert_same_files(first.volumes, published)
    assert (first.bytes_fetched, first.bytes_reused) == (total, 0)
    assert first.config.name == "CentOS-6"
    assert first.manifest is not None
    assert first.manifest.image_size > 0
    assert sorted(path.name for path in (first.local_dir / "volumes").iterdir()) == [
        p.name for p in published
    ]
    assert (reports[-1].bytes_done, reports[-1].volumes_done) == (total, len(published))

    second = fetch_template("mgtr_test", mgtr_server.remote_path(TEMPLATE), cache)

    assert (second.bytes_fetched, second.bytes_reused) == (0, total)
    assert_same_files(second.volumes, published)


def test_wrong_host_key_is_refused(repository: Path, mgtr_server: MgtrServerHandle, tmp_path: Path) -> None:
    publish_template(repository, TEMPLATE)
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEnEws8zfFaLKsDYzrfgIevjbay2q4vCPDdtktJZQVnd"
    settings = settings_for(mgtr_server)
    wrong = type(settings)(
        **{**settings.__dict__, "known_hosts": f"[{mgtr_server.host}]:{mgtr_server.port} {other}"}
    )

    with pytest.raises(
        HostKeyRejected, match=r"host key of the SFTP server .* is not the one the connection trusts"
    ):
        asyncio.run(fetch_template_async(wrong, mgtr_server.remote_path(TEMPLATE), tmp_path / "cache"))
    assert not list((tmp_path / "cache").rglob("*.7z.*"))


def test_template_without_manifest_is_verified_by_size(
    repository: Path, mgtr_server: MgtrServerHandle, tmp_path: Path
) -> None:
    _, published = publish_template(repository, TEMPLATE, manifest=False)

    result = fetch(mgtr_server, tmp_path / "cache")

    assert result.manifest is None
    assert_same_files(result.volumes, published)
    assert not (result.local_dir / MANIFEST_NAME).exists()


def test_cut_mid_transfer_then_resume_refetches_at_most_one_volume(
    repository: Path, mgtr_server: MgtrServerHandle, tmp_path: Path
) -> None:
    _, published = publish_template(repository, TEMPLATE, image_size=8 * VOLUME_SIZE - 7000)
    total = sum(path.stat().st_size for path in published)
    cache = tmp_path / "cache"
    with (
        run_shaping_proxy(
            mgtr_server.host,
            mgtr_server.port,
            tmp_path / "proxy",
            delay_ms=0,
            cut_after_bytes=total * 6 // 10,
        ) as proxy,
        pytest.raises(TemplateFetchError) as cut,
    ):
        fetch(mgtr_server, cache, port=proxy.port, retries=0)
    assert proxy.stats()["cuts"] == 1
    assert 0 < cut.value.bytes_fetched < total
    assert list(cache.rglob("partial/*.7z.*")), "the cut left partial volumes to resume"

    resumed = fetch(mgtr_server, cache)

    assert_same_files(resumed.volumes, published)
    assert cut.value.bytes_fetched + resumed.bytes_fetched - total <= VOLUME_SIZE
    assert resumed.bytes_reused == total - resumed.bytes_fetched


def test_cut_is_retried_within_the_run(
    repository: Path, mgtr_server: MgtrServerHandle, tmp_path: Path
) -> None:
    _, published = publish_template(repository, TEMPLATE)
    total = sum(path.stat().st_size for path in published)
    with run_shaping_proxy(
        mgtr_server.host, mgtr_server.port, tmp_path / "proxy", delay_ms=0, cut_after_bytes=total // 2
    ) as proxy:
        result = fetch(mgtr_server, tmp_path / "cache", port=proxy.port, retries=2, backoff_s=0.1)
    assert proxy.stats()["cuts"] == 1

    assert_same_files(result.volumes, published)
    assert total <= result.bytes_fetched <= total + VOLUME_SIZE


def test_corrupted_partial_volume_is_detected_and_fetched_again(
    repository: Path, mgtr_server: MgtrServerHandle, tmp_path: Path
) -> None:
    _, published = publish_template(repository, TEMPLATE)
    total = sum(path.stat().st_size for path in published)
    victim = published[1]
    half = victim.stat().st_size // 2
    cache = TemplateCache(template_cache_dir(tmp_path / "cache", mgtr_server.remote_path(TEMPLATE)))
    corrupted = bytearray(victim.read_bytes()[:half])
    corrupted[10] ^= 0xFF
    (cache.partial_dir / victim.name).write_bytes(bytes(corrupted))
    remote = PartialVolume(size=victim.stat().st_size, remote_mtime=int(victim.stat().st_mtime))
    cache.partials[victim.name] = remote
    cache.save()

    result = fetch(mgtr_server, tmp_path / "cache", retries=1, backoff_s=0.1)

    assert_same_files(result.volumes, published)
    resumed_then_refetched = (remote.size - half) + remote.size
    assert result.bytes_fetched == total - remote.size + resumed_then_refetched


def test_corrupted_volume_on_server_fails_naming_it(
    repository: Path, mgtr_server: MgtrServerHandle, tmp_path: Path
) -> None:
    _, published = publish_template(repository, TEMPLATE)
    bad = published[1]
    data = bytearray(bad.read_bytes())
    data[100] ^= 0xFF
    bad.write_bytes(bytes(data))
    cache = tmp_path / "cache"

    with pytest.raises(VolumeFetchError, match=rf"volume {bad.name} failed after 2 attempt\(s\): .*SHA-256"):
        fetch(mgtr_server, cache, retries=1, backoff_s=0.1)

    volumes = next(cache.rglob("volumes"))
    assert bad.name not in {path.name for path in volumes.iterdir()}
    assert not list(cache.rglob(f"partial/{bad.name}"))


def test_symlinked_volume_is_refused(repository: Path, mgtr_server: MgtrServerHandle, tmp_path: Path) -> None:
    _, published = publish_template(repository, TEMPLATE)
    outside = tmp_path / "outside.bin"
    shutil.move(published[2], outside)
    published[2].symlink_to(outside)

    with pytest.raises(UnsafeRemoteName, match=rf"{published[2].name}' is a link, not a regular file"):
        fetch(mgtr_server, tmp_path / "cache")


def test_manifest_naming_a_path_outside_the_folder_is_refused(
    repository: Path, mgtr_server: MgtrServerHandle, tmp_path: Path
) -> None:
    _, published = publish_template(repository, TEMPLATE)
    manifest_path = published[0].parent / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest["volumes"]["../../escape.7z.005"] = manifest["volumes"][published[0].name]
    manifest_path.write_text(json.dumps(manifest))

    with pytest.raises(TemplateFetchError, match=r"'\.\./\.\./escape\.7z\.005'.*not volume names"):
        fetch(mgtr_server, tmp_path / "cache")
    assert not (tmp_path / "escape.7z.005").exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda folder: (folder / "config.ini").write_text("[template]\nname = x\n"),
            r"config\.ini: \[template\]",
        ),
        (lambda folder: next(folder.glob("*.7z.003")).unlink(), r"missing on the server: .*\.7z\.003"),
    ],
    ids=["malformed-config", "missing-volume"],
)
def test_broken_template_folder_gives_a_clear_error(
    repository: Path,
    mgtr_server: MgtrServerHandle,
    tmp_path: Path,
    damage: Callable[[Path], object],
    message: str,
) -> None:
    _, published = publish_template(repository, TEMPLATE)
    damage(published[0].parent)

    with pytest.raises(TemplateFetchError, match=message):
        fetch(mgtr_server, tmp_path / "cache")


def test_bandwidth_cap_slows_the_transfer_down(
    repository: Path, mgtr_server_factory: Callable[..., MgtrServerHandle], tmp_path: Path
) -> None:
    _, published = publish_template(repository, TEMPLATE)
    total = sum(path.stat().st_size for path in published)
    rate = 1_000_000.0
    burst = max(256 * 1024, rate / 10)

    result = fetch(mgtr_server_factory(repository, "asyncssh"), tmp_path / "cache", bandwidth_bytes_s=rate)

    assert_same_files(result.volumes, published)
    assert result.seconds >= (total - burst) / rate
