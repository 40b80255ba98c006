//! `sealmail smime sign|verify|encrypt|decrypt`: the S/MIME engine from the command line, for
//! admins troubleshooting mail and for interop tests against openssl and gpgsm.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct SmimeArgs {
    #[command(subcommand)]
    pub command: SmimeCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum SmimeCommand {}

pub fn run(args: SmimeArgs) -> ExitCode {
    match args.command {}
}
