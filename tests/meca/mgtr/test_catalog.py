"""The templates catalog: parsing, validation and region resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from meca.mgtr.catalog import InvalidCatalog, load_catalog, parse_catalog

REPO = Path(__file__).resolve().parents[3]
DOCUMENT = {
    "keep_versions": 3,
    "os_types": {"CentOS 6": "CentOS 6.10 (64-bit)"},
    "templates": [
        {"path": "/MGTR/common/linux/CentOS", "regions": "all"},
        {"path": "/MGTR/polito/ubuntu", "regions": ["MECA-PolITO"], "keep_versions": 1},
    ],
}


def test_parses_defaults_overrides_and_keys() -> None:
    catalog = parse_catalog(DOCUMENT, source="test")

    centos, ubuntu = catalog.templates
    assert (centos.keep_versions, ubuntu.keep_versions) == (3, 1)
    assert (catalog.mgtr_conn_id, catalog.staging_conn_id) == ("meca_mgtr", "meca_staging_http")
    assert centos.key == "MGTR__common__linux__CentOS"
    assert catalog.os_type_description("CentOS 6") == "CentOS 6.10 (64-bit)"
    assert catalog.os_type_description("Ubuntu 22.04 LTS") == "Ubuntu 22.04 LTS"
    assert catalog.template("/MGTR/polito/ubuntu") is ubuntu


def test_regions_resolve_against_the_federation() -> None:
    centos, ubuntu = parse_catalog(DOCUMENT, source="test").templates
    known = ["MECA-UniBo", "MECA-PolITO"]

    assert centos.target_regions(known) == known
    assert ubuntu.target_regions(known) == ["MECA-PolITO"]
    with pytest.raises(InvalidCatalog, match=r"unknown region\(s\) MECA-PolITO; known: MECA-UniBo"):
        ubuntu.target_regions(["MECA-UniBo"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, r"unknown key\(s\) \['colour'\]"),
        ({"keep_versions": 0}, "keep_versions must be an integer >= 1"),
        ({"templates": [{"path": "relative/x", "regions": "all"}]}, "path must be an absolute MGTR path"),
        ({"templates": [{"path": "/MGTR/../etc", "regions": "all"}]}, "without '..'"),
        ({"templates": [{"path": "/MGTR/x", "regions": []}]}, "regions must be 'all' or a non-empty list"),
        ({"templates": [{"path": "/MGTR/x", "regions": "all", "zone": 1}]}, r"templates\[0\]: unknown key"),
        (
            {"templates": [{"path": "/M/x", "regions": "all"}, {"path": "/M/x/", "regions": "all"}]},
            "listed twice: /M/x",
        ),
        ({"os_types": {"CentOS": 6}}, "os_types must map"),
        ({"mgtr_conn_id": ""}, "mgtr_conn_id must be a Connection id"),
    ],
)
def test_malformed_catalogs_are_refused_with_the_reason(change: dict, message: str) -> None:
    with pytest.raises(InvalidCatalog, match=message):
        parse_catalog({**DOCUMENT, **change}, source="test")


def test_load_from_a_folder_or_a_file(tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(DOCUMENT))

    assert load_catalog(tmp_path) == load_catalog(tmp_path / "catalog.yaml")
    with pytest.raises(InvalidCatalog, match="cannot read the templates catalog"):
        load_catalog(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("templates: [\n")
    with pytest.raises(InvalidCatalog, match="not valid YAML"):
        load_catalog(tmp_path / "bad.yaml")


def test_the_shipped_catalog_is_valid() -> None:
    catalog = load_catalog(REPO / "include" / "templates_catalog")

    assert catalog.templates
    assert all(t.path.startswith("/MGTR/") for t in catalog.templates)
