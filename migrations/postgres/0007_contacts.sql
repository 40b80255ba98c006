-- Personal contacts (issue 18): people in one user's address book, each with several e-mail
-- addresses. `uid` is the vCard UID (kept from an import, made up otherwise), so a file exported
-- here and imported again updates the same people instead of adding them twice.
CREATE TABLE contacts (
    owner TEXT NOT NULL,
    uid TEXT NOT NULL,
    display_name TEXT NOT NULL,
    phone TEXT NOT NULL,
    notes TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (owner, uid)
);

-- A contact's addresses, lower-cased, in the order the user gave them.
CREATE TABLE contact_addresses (
    owner TEXT NOT NULL,
    uid TEXT NOT NULL,
    address TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (owner, uid, address)
);
CREATE INDEX contact_addresses_lookup ON contact_addresses (owner, address);

-- Addresses the user sent mail to, for recipient suggestions; written when a send succeeds.
CREATE TABLE recent_recipients (
    owner TEXT NOT NULL,
    address TEXT NOT NULL,
    last_used BIGINT NOT NULL,
    PRIMARY KEY (owner, address)
);
