-- Sessions: the IMAP password is stored sealed under a key that exists only in the user's cookie,
-- so a copy of this table alone reveals no password.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    sealed_password TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

CREATE TABLE login_failures (
    email TEXT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    first_failure_at BIGINT NOT NULL
);

-- One row per message the user asked to send, keyed by the compose form's send id, so that a
-- retried or double-clicked send is submitted once and filed in Sent once.
CREATE TABLE outbox (
    send_id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    message_id TEXT NOT NULL,
    state TEXT NOT NULL,
    sent_copy BYTEA,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX outbox_email_state ON outbox (email, state);
