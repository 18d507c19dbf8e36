#!/usr/bin/env python3
"""Recomputes secure_*.hex (SPEC.md section 12's example) with an independent
Noise implementation, the Python package `noiseprotocol` (0.3.1 checked):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install noiseprotocol
    /tmp/venv/bin/python tests/vectors/secure_check.py

Prints one line per vector and exits 1 if any differs. Not part of the test
suite (it needs that package); run it when the vectors or the library change.
"""
import pathlib
import sys
import warnings

from noise.connection import Keypair, NoiseConnection

HERE = pathlib.Path(__file__).parent


def side(initiator, static, ephemeral):
    c = NoiseConnection.from_name(b"Noise_XX_25519_ChaChaPoly_BLAKE2s")
    c.set_as_initiator() if initiator else c.set_as_responder()
    c.set_prologue(b"tinyssb-noise-v1")
    c.set_keypair_from_private_bytes(Keypair.STATIC, bytes([static]) * 32)
    c.set_keypair_from_private_bytes(Keypair.EPHEMERAL, bytes([ephemeral]) * 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns that a fixed ephemeral key is for tests only
        c.start_handshake()
    return c


i, r = side(True, 0x01, 0x11), side(False, 0x02, 0x22)
m1 = i.write_message()
r.read_message(m1)
m2 = r.write_message()
i.read_message(m2)
m3 = i.write_message()
r.read_message(m3)
got = {"msg1": m1, "msg2": m2, "msg3": m3, "transport1": i.encrypt(b"hello")}
bad = 0
for name, value in got.items():
    want = (HERE / f"secure_{name}.hex").read_text().strip()
    same = value.hex() == want
    bad += not same
    print(f"secure_{name}.hex: {'same' if same else 'DIFFERENT: ' + value.hex()}")
sys.exit(1 if bad else 0)
