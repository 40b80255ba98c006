//! `sealmail cert check`: validates a certificate the way the server does before trusting it.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct CertArgs {
    #[command(subcommand)]
    pub command: CertCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CertCommand {}

pub fn run(args: CertArgs) -> ExitCode {
    match args.command {}
}
