-- Key recovery (issue 19): the recovery agents' copy of a user's encryption key, made in the
-- browser (a .p12 inside CMS EnvelopedData to every agent); the server cannot open it.
-- One row per certificate (SHA-256 of its DER, hex), so a renewed key is archived anew.
CREATE TABLE key_archives (
    owner TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    certificate BLOB NOT NULL,
    archive BLOB NOT NULL,
    deposited_at BIGINT NOT NULL,
    PRIMARY KEY (owner, fingerprint)
);
