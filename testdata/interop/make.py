#!/usr/bin/env python3
"""Makes the interop fixture of tests/core/remote.rs with a JOSE implementation independent of the
crate's own (jsonwebtoken): PyJWT 2.6 on pyca/cryptography 38 (Debian 12: python3-jwt,
python3-cryptography). Run once; its output is committed:

    /usr/bin/python3 testdata/interop/make.py

Writes jwks.json (the public keys, as PyJWT exports them, plus keys the crate must skip) and
tokens.json (one token per key, valid until 2100). The private keys are thrown away.
"""
import json
import os

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

HERE = os.path.dirname(os.path.abspath(__file__))
ISSUER = "https://interop.example.test"

rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
noalg_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
p256 = ec.generate_private_key(ec.SECP256R1())
p384 = ec.generate_private_key(ec.SECP384R1())
ed = ed25519.Ed25519PrivateKey.generate()


def jwk(algorithm, private, kid, alg=None, use="sig"):
    key = json.loads(algorithm.to_jwk(private.public_key()))
    key["kid"] = kid
    key["use"] = use
    if alg:
        key["alg"] = alg
    return key


keys = [
    jwk(RSAAlgorithm, rsa_key, "py-rs256", "RS256"),
    jwk(RSAAlgorithm, rsa_key, "py-ps256", "PS256"),
    # No alg: P-256 fixes ES256.
    jwk(ECAlgorithm, p256, "py-es256"),
    jwk(ECAlgorithm, p384, "py-es384", "ES384"),
    jwk(OKPAlgorithm, ed, "py-eddsa", "EdDSA"),
    # An RSA key without alg, as Entra ID publishes them: skipped unless configured.
    jwk(RSAAlgorithm, noalg_key, "py-noalg"),
    # Keys the crate must skip, not choke on.
    jwk(RSAAlgorithm, noalg_key, "py-enc", "RSA-OAEP-256", use="enc"),
    {"kty": "OKP", "crv": "X25519", "kid": "py-x25519", "use": "enc",
     "x": jwt.utils.base64url_encode(x25519.X25519PrivateKey.generate().public_key().public_bytes(
         serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()},
    {"kty": "EC", "crv": "secp256k1", "kid": "py-k1", "alg": "ES256K",
     "x": "WfHn7c6s0OqfMGHqNsBrTcPyS0v_2ZWmNHUjmDjYyHw",
     "y": "u9dJnSjX0zNrGwh4yq4_LzKG5N6LZLOKhZZfuGyoFmI"},
    {"kty": "PQC", "kid": "py-future", "alg": "ML-DSA-65", "pub": "AAAA"},
    {"kty": "oct", "kid": "py-oct", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0"},
]

claims = {"iss": ISSUER, "aud": "api", "iat": 1700000000, "exp": 4102444800, "scope": "read write"}
tokens = {}
for kid, alg, key in [
    ("py-rs256", "RS256", rsa_key),
    ("py-ps256", "PS256", rsa_key),
    ("py-es256", "ES256", p256),
    ("py-es384", "ES384", p384),
    ("py-eddsa", "EdDSA", ed),
    ("py-noalg", "RS256", noalg_key),
]:
    headers = {"kid": kid, "typ": "at+jwt"}
    tokens[kid] = jwt.encode(dict(claims, sub="sub-" + kid), key, algorithm=alg, headers=headers)

with open(os.path.join(HERE, "jwks.json"), "w") as f:
    json.dump({"keys": keys}, f, indent=2)
    f.write("\n")
with open(os.path.join(HERE, "tokens.json"), "w") as f:
    json.dump({"issuer": ISSUER, "generated_by": "PyJWT " + jwt.__version__, "tokens": tokens}, f, indent=2)
    f.write("\n")
