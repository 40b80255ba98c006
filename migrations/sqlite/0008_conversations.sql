-- Whether the user reads folders as conversations (threads) rather than one message a row.
ALTER TABLE user_options ADD COLUMN conversations BIGINT NOT NULL DEFAULT 0;
