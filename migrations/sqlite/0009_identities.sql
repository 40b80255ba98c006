-- Identities (issue 18): what a user chose for each From address they send as (display name,
-- signature text, which is the default), and the addresses they added themselves. The
-- sign-in address and the directory's aliases are identities without a row; a row only keeps
-- what the user chose for them. Whether an address may be used is decided on every send.
CREATE TABLE identities (
    owner TEXT NOT NULL,
    address TEXT NOT NULL,
    display_name TEXT NOT NULL,
    signature TEXT NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (owner, address)
);
