"""The export manifests: the documented layout is read, anything else is one clear error."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.errors import EXIT_USAGE
from monitor.verify.export_manifest import (
    ExportError,
    data_file_path,
    md5_checksum,
    parse_files,
    parse_summary,
)

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/IntegrationLogs/export/01700000000000-a1b2c3d4"
EXPORT_ID = "01700000000000-a1b2c3d4"


def summary(**changes: object) -> str:
    data = {
        "version": "2020-06-30",
        "exportArn": ARN,
        "exportTime": "2026-11-24T10:00:00.123Z",
        "itemCount": 8,
        "outputFormat": "DYNAMODB_JSON",
        "manifestFilesS3Key": f"p/AWSDynamoDB/{EXPORT_ID}/manifest-files.json",
    }
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None})


def test_the_documented_summary_is_read() -> None:
    arn, moment, count, files_key = parse_summary(summary(), "dir")
    assert arn == ARN
    assert moment == datetime(2026, 11, 24, 10, 0, 0, 123000, tzinfo=UTC)
    assert count == 8
    assert files_key.endswith("manifest-files.json")


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"outputFormat": "ION"}, "only DYNAMODB_JSON"),
        ({"exportType": "INCREMENTAL_EXPORT"}, "only a full export"),
        ({"exportTime": None}, "exportTime is missing"),
        ({"exportTime": "yesterday"}, "not an ISO-8601 time"),
        ({"exportTime": "2026-11-24T10:00:00"}, "no time zone"),
        ({"exportArn": "arn:aws:dynamodb:table/T"}, "not an export ARN"),
        ({"itemCount": -1}, "itemCount"),
    ],
)
def test_a_summary_that_does_not_fit_is_one_line_naming_it(
    changes: dict[str, object], says: str
) -> None:
    with pytest.raises(ExportError) as caught:
        parse_summary(summary(**changes), "dir")
    assert says in str(caught.value)
    assert "manifest-summary.json" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", b"\xff\xfe"])
def test_a_summary_that_is_not_a_json_object_is_refused(text: str | bytes) -> None:
    with pytest.raises(ExportError, match="manifest-summary.json"):
        parse_summary(text, "dir")


def test_files_are_resolved_against_the_exports_own_folder() -> None:
    lines = [
        {
            "itemCount": 3,
            "md5Checksum": "sQMSpEILNgoQmarvDFonGQ==",
            "dataFileS3Key": f"pre/fix/AWSDynamoDB/{EXPORT_ID}/data/a.json.gz",
        },
        {"itemCount": 0, "dataFileS3Key": f"AWSDynamoDB/{EXPORT_ID}/data/b.json.gz"},
        {"dataFileS3Key": "data/c.json.gz"},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n\n"
    files = parse_files(text, "dir", EXPORT_ID)
    assert [(f.path, f.item_count) for f in files] == [
        ("data/a.json.gz", 3),
        ("data/b.json.gz", 0),
        ("data/c.json.gz", None),
    ]


@pytest.mark.parametrize(
    "key",
    [
        f"AWSDynamoDB/{EXPORT_ID}/data/../../etc/passwd",
        f"AWSDynamoDB/{EXPORT_ID}/manifest-summary.json",
        "/data/a.json.gz",
        "data//a.json.gz",
        "AWSDynamoDB/other-export/data/a.json.gz",
    ],
)
def test_a_data_key_outside_the_exports_data_folder_is_refused(key: str) -> None:
    with pytest.raises(ExportError, match="is not under data/"):
        parse_files(json.dumps({"dataFileS3Key": key}), "dir", EXPORT_ID)


def test_a_malformed_files_line_is_named_by_its_number() -> None:
    text = json.dumps({"dataFileS3Key": "data/a.json.gz"}) + "\nnot json\n"
    with pytest.raises(ExportError, match=r"manifest-files.json line 2: not JSON"):
        parse_files(text, "dir", EXPORT_ID)
    with pytest.raises(ExportError, match="line 1: dataFileS3Key is missing"):
        parse_files(json.dumps({"itemCount": 1}), "dir", EXPORT_ID)


@given(
    prefix=st.lists(st.from_regex(r"[a-z0-9_-]{1,8}", fullmatch=True), max_size=3),
    name=st.from_regex(r"[a-z0-9]{1,26}\.json\.gz", fullmatch=True),
)
def test_any_prefix_resolves_to_the_same_relative_path(prefix: list[str], name: str) -> None:
    key = "/".join([*prefix, "AWSDynamoDB", EXPORT_ID, "data", name])
    assert data_file_path(key, EXPORT_ID, "here") == f"data/{name}"


def test_a_files_md5_checksum_is_kept_and_a_malformed_one_refused() -> None:
    key = f"AWSDynamoDB/{EXPORT_ID}/data/a.json.gz"
    line = {"dataFileS3Key": key, "itemCount": 2, "md5Checksum": md5_checksum(b"0123456789abcdef")}
    (listed,) = parse_files(json.dumps(line), "dir", EXPORT_ID)
    assert listed.md5 == "MDEyMzQ1Njc4OWFiY2RlZg=="
    (bare,) = parse_files(json.dumps({"dataFileS3Key": key}), "dir", EXPORT_ID)
    assert bare.md5 is None
    for bad in ("not base64!", "AAAA", 12):
        with pytest.raises(ExportError) as caught:
            parse_files(json.dumps(line | {"md5Checksum": bad}), "dir", EXPORT_ID)
        assert "line 1" in str(caught.value) and "md5Checksum" in str(caught.value)
