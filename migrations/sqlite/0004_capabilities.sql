-- What each signer's software said it can decrypt (SMIMECapabilities, RFC 8551 §2.5.2), by
-- certificate: learnt from valid signatures, used to pick the cipher for mail back to them.
-- `algorithms` lists Sealmail's names ("aes256-gcm,aes256-cbc"); the newest signature wins.
CREATE TABLE smime_capabilities (
    fingerprint TEXT PRIMARY KEY NOT NULL,
    algorithms TEXT NOT NULL,
    signed_at BIGINT NOT NULL
);
