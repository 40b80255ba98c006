//! The server's integration tests: the real router, CLI and S/MIME engine against the rig's
//! Dovecot, Postfix, PostgreSQL and OpenLDAP, one module per feature. One test program, so the
//! shared harness and the server library are compiled and linked once. Tests here run side by
//! side and never stop or stall a shared server; those that do live in `disruptive`.

#[path = "../certs/mod.rs"]
mod certs;
#[path = "../common/mod.rs"]
mod common;

mod assets;
mod attachments;
mod cert_cli;
mod connection_limit;
mod contacts;
mod conversations;
mod crl_fetch;
mod directory;
mod folders;
mod glance;
mod harvest;
mod identities;
mod imap_commands;
mod installed_app;
mod key_recovery;
mod ocsp;
mod ops;
mod search;
mod smime_cli;
mod web;
