#!/usr/bin/env python3
"""Regenerates the fixtures of pki's unit tests (run once; the outputs are committed).

root (RSA-2048) --RSA-PSS--> inter (P-256 CA) --ECDSA--> alice (signing, e-mail alice@example.test)
     |                                        \--ECDSA--> bob (same shape, revoked in inter.crl)
     \--RSA SHA-512--> inter384 (P-384 CA) --ECDSA SHA-384--> carol (RSA key, encryption only)
Leaves are valid 2024-01-01 .. 2026-01-01; CAs and CRLs 2020 .. 2040.
Needs the Python `cryptography` package.
"""
import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sealmail Tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def t(y, m=1, d=1):
    return dt.datetime(y, m, d, tzinfo=dt.timezone.utc)


def ku(**bits):
    keys = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
            "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
    return x509.KeyUsage(**{k: bits.get(k, False) for k in keys})


def write(path, der):
    with open(path, "wb") as f:
        f.write(der)


root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
inter_key = ec.generate_private_key(ec.SECP256R1())
root = (x509.CertificateBuilder().subject_name(name("Test Root")).issuer_name(name("Test Root"))
        .public_key(root_key.public_key()).serial_number(1).not_valid_before(t(2020))
        .not_valid_after(t(2040))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ku(key_cert_sign=True, crl_sign=True), critical=True)
        .sign(root_key, hashes.SHA256()))
pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
inter = (x509.CertificateBuilder().subject_name(name("Test Intermediate")).issuer_name(root.subject)
         .public_key(inter_key.public_key()).serial_number(2).not_valid_before(t(2020))
         .not_valid_after(t(2040))
         .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
         .add_extension(ku(key_cert_sign=True, crl_sign=True), critical=True)
         .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
             [x509.UniformResourceIdentifier("http://crl.example.test/root.crl")], None, None, None)]),
             critical=False)
         .sign(root_key, hashes.SHA256(), rsa_padding=pss))


def leaf(address, serial):
    key = ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateBuilder().subject_name(name(address)).issuer_name(inter.subject)
            .public_key(key.public_key()).serial_number(serial).not_valid_before(t(2024))
            .not_valid_after(t(2026))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
            .add_extension(ku(digital_signature=True, content_commitment=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier("http://crl.example.test/inter.crl")], None, None, None)]),
                critical=False)
            .sign(inter_key, hashes.SHA256()))


inter384_key = ec.generate_private_key(ec.SECP384R1())
inter384 = (x509.CertificateBuilder().subject_name(name("Test Intermediate P-384"))
            .issuer_name(root.subject).public_key(inter384_key.public_key()).serial_number(3)
            .not_valid_before(t(2020)).not_valid_after(t(2040))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(ku(key_cert_sign=True, crl_sign=True), critical=True)
            .sign(root_key, hashes.SHA512()))
carol_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
carol = (x509.CertificateBuilder().subject_name(name("carol@example.test"))
         .issuer_name(inter384.subject).public_key(carol_key.public_key()).serial_number(3001)
         .not_valid_before(t(2024)).not_valid_after(t(2026))
         .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("carol@example.test")]),
                        critical=False)
         .add_extension(ku(key_encipherment=True), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
         .sign(inter384_key, hashes.SHA384()))
inter384_crl = (x509.CertificateRevocationListBuilder().issuer_name(inter384.subject)
                .last_update(t(2020)).next_update(t(2040))
                .add_extension(x509.CRLNumber(1), critical=False)
                .sign(inter384_key, hashes.SHA384()))

alice = leaf("alice@example.test", 1001)
bob = leaf("bob@example.test", 1002)

root_crl = (x509.CertificateRevocationListBuilder().issuer_name(root.subject)
            .last_update(t(2020)).next_update(t(2040))
            .add_extension(x509.CRLNumber(1), critical=False)
            .sign(root_key, hashes.SHA256(), rsa_padding=pss))
revoked = (x509.RevokedCertificateBuilder().serial_number(1002).revocation_date(t(2024, 6))
           .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False).build())
inter_crl = (x509.CertificateRevocationListBuilder().issuer_name(inter.subject)
             .last_update(t(2020)).next_update(t(2040))
             .add_extension(x509.CRLNumber(1), critical=False)
             .add_revoked_certificate(revoked)
             .sign(inter_key, hashes.SHA256()))

for file, obj in [("root.der", root), ("inter.der", inter), ("alice.der", alice), ("bob.der", bob),
                  ("root.crl", root_crl), ("inter.crl", inter_crl), ("inter384.der", inter384),
                  ("carol.der", carol), ("inter384.crl", inter384_crl)]:
    write(file, obj.public_bytes(serialization.Encoding.DER))
