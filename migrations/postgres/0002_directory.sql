-- The certificate directory (issue 4). Addresses are stored lower-cased so lookups are exact.

-- A person; `address` is the primary address and the key everything else refers to.
CREATE TABLE directory_people (
    address TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Alias (proxy) addresses of a person.
CREATE TABLE directory_aliases (
    alias TEXT PRIMARY KEY NOT NULL,
    person TEXT NOT NULL
);
CREATE INDEX directory_aliases_person ON directory_aliases (person);

-- The two attributes admins know: 'userCertificate' (one DER certificate per value) and
-- 'userSMIMECertificate' (one PKCS#7 certs-only bundle per value). They are always written
-- together from one certificate set, so both name the same certificates.
CREATE TABLE directory_attributes (
    person TEXT NOT NULL,
    attribute TEXT NOT NULL,
    position BIGINT NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (person, attribute, position)
);

-- Distribution lists; a member is an address: a person, another list, or an outside address.
CREATE TABLE directory_lists (
    address TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL
);
CREATE TABLE directory_list_members (
    list TEXT NOT NULL,
    member TEXT NOT NULL,
    PRIMARY KEY (list, member)
);

-- CA certificates found in imports, offered to the chain builder as untrusted intermediates.
CREATE TABLE directory_intermediates (
    fingerprint TEXT PRIMARY KEY NOT NULL,
    der BYTEA NOT NULL
);

-- Per-user contacts' certificates and certificates harvested from signed mail the user accepted.
-- `source` is 'contact' or 'harvested'.
CREATE TABLE user_certificates (
    owner TEXT NOT NULL,
    source TEXT NOT NULL,
    address TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    der BYTEA NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (owner, source, fingerprint)
);
CREATE INDEX user_certificates_lookup ON user_certificates (owner, address);

-- CRLs shared by every user and every server instance, kept until nextUpdate. Only CRLs whose
-- signature was verified are written here.
CREATE TABLE crl_cache (
    url TEXT PRIMARY KEY NOT NULL,
    der BYTEA NOT NULL,
    next_update BIGINT NOT NULL,
    fetched_at BIGINT NOT NULL
);
