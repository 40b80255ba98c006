-- Certificates harvested from signed mail (issue 19). A harvested row remembers when the
-- signature that brought it was made, so that for one address the newest signature's
-- certificate is the one mail is encrypted to, and what that signature announced it can decrypt
-- (SMIMECapabilities, Sealmail's names: "aes256-gcm,aes256-cbc"), for this user alone. Contact
-- rows leave both empty.
ALTER TABLE user_certificates ADD COLUMN signed_at BIGINT;
ALTER TABLE user_certificates ADD COLUMN capabilities TEXT;
