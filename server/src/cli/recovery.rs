//! `sealmail recovery export --email ADDR [--out DIR]`: hands the admin the recovery copies of a
//! user's encryption keys. Each is a CMS EnvelopedData the recovery agent opens offline:
//!
//! ```text
//! openssl cms -decrypt -inform PEM -in copy.pem -recip agent.pem -inkey agent.key -out user.p12
//! openssl pkcs12 -in user.p12 -passin pass: -noenc      # the .p12 has an empty password
//! ```
//!
//! Without `--out` the copies are printed as PEM (`CMS` blocks), newest first; with it each is
//! written to `DIR/ADDR-FINGERPRINT.p7m` (DER) and its path printed.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::recovery::Archives;

#[derive(Debug, clap::Args)]
pub struct RecoveryArgs {
    /// The server's configuration: its database is where the work is done.
    #[command(flatten)]
    pub config: super::ConfigFile,
    #[command(subcommand)]
    pub command: RecoveryCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RecoveryCommand {
    /// Print (or write to --out) the recovery copies of ADDR's encryption keys.
    Export {
        #[arg(long, value_name = "ADDR")]
        email: String,
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

pub fn run(args: RecoveryArgs) -> ExitCode {
    let RecoveryCommand::Export { email, out } = args.command;
    let result = super::with_database(&args.config.path, |_, db| async move {
        let deposits = Archives::new(db)
            .of(&email)
            .await
            .map_err(|e| e.to_string())?;
        if deposits.is_empty() {
            return Err(format!("no recovery copy is held for {email}"));
        }
        let mut lines = Vec::new();
        for d in deposits {
            match &out {
                Some(dir) => {
                    let short = d.fingerprint.get(..16).unwrap_or(&d.fingerprint);
                    let path = dir.join(format!("{email}-{short}.p7m"));
                    std::fs::write(&path, &d.archive)
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    lines.push(path.display().to_string());
                }
                None => lines.push(
                    der::pem::encode_string("CMS", der::pem::LineEnding::LF, &d.archive)
                        .map_err(|e| e.to_string())?,
                ),
            }
        }
        Ok(lines)
    });
    super::finish("recovery", result)
}
