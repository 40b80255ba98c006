//! Tests that stop, stall or restart a server the whole rig shares (Dovecot, Postfix,
//! PostgreSQL, OpenLDAP), with the features whose tests include such a step. A test that
//! disrupts a server holds `common::servers_alone()`, so nothing else in this program runs
//! meanwhile; the others hold `common::servers_shared()`. The `integration` program never runs at
//! the same time: Cargo runs test programs one after another.

#[path = "../certs/mod.rs"]
mod certs;
#[path = "../common/mod.rs"]
mod common;

mod drafts;
mod ldap;
mod outages;
mod sieve;
