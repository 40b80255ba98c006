-- Whether new messages start as formatted text (multipart/alternative) rather than plain text.
ALTER TABLE user_options ADD COLUMN compose_formatted BIGINT NOT NULL DEFAULT 0;
