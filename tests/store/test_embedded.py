"""The embedded PostgreSQL refuses a data folder that another major version made."""

from __future__ import annotations

from pathlib import Path

import pytest

from survey.errors import EmbeddedVersionMismatch
from survey.store import db


def test_a_new_data_folder_is_accepted(tmp_path: Path):
    db.check_embedded_version(tmp_path, "18")


def test_a_folder_of_the_same_major_version_is_accepted(tmp_path: Path):
    (tmp_path / "PG_VERSION").write_text("18\n")
    db.check_embedded_version(tmp_path, "18")


def test_a_folder_of_another_major_version_is_refused_with_what_to_do(tmp_path: Path):
    (tmp_path / "PG_VERSION").write_text("16\n")
    with pytest.raises(EmbeddedVersionMismatch) as caught:
        db.check_embedded_version(tmp_path, "18")
    message = str(caught.value)
    assert "PostgreSQL 16" in message
    assert "PostgreSQL 18" in message
    assert "DATABASE_URL" in message


def test_the_bundled_major_version_is_a_number():
    assert db.embedded_major().isdigit()
