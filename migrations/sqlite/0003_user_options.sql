-- Each user's own S/MIME defaults (the Options page). A missing row means both off.
CREATE TABLE user_options (
    email TEXT PRIMARY KEY NOT NULL,
    sign_by_default BIGINT NOT NULL,
    encrypt_by_default BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
