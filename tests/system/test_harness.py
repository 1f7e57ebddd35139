"""Proves the harness: the real emulator runs, and google-cloud-firestore talks to it."""

from __future__ import annotations

import os

import pytest

from teamcost.emulator import EmulatorError, find_emulator


def test_write_and_read_a_document(firestore_client, firestore_emulator):
    ref = firestore_client.collection("harness").document("doc-1")
    ref.create({"n": 2**40 + 7, "s": "hello"})
    snap = ref.get()
    assert snap.exists
    assert snap.to_dict() == {"n": 2**40 + 7, "s": "hello"}
    assert os.environ["FIRESTORE_EMULATOR_HOST"] == firestore_emulator.host


def test_wipe_deletes_documents(firestore_client, firestore_emulator):
    firestore_client.collection("harness").document("x").set({"a": 1})
    firestore_emulator.wipe()
    assert not firestore_client.collection("harness").document("x").get().exists


def test_missing_emulator_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("TEAMCOST_FIRESTORE_EMULATOR", str(tmp_path / "nope"))
    with pytest.raises(EmulatorError, match="gcloud components install cloud-firestore-emulator"):
        find_emulator()
