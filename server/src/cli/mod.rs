//! Admin and troubleshooting commands of the `sealmail` binary, one module per command group.
//! They read files and print one clear line; the work itself is done by the library modules.

pub mod cert;
pub mod directory;
pub mod recovery;
pub mod smime;
