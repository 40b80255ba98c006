//! Admin and troubleshooting commands of the `sealmail` binary, one module per command group.
//! They read files and print one clear line; the work itself is done by the library modules.

pub mod cert;
pub mod directory;
pub mod recovery;
pub mod smime;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::Config;

/// `--config FILE`: the server's configuration, for every command that reads it.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigFile {
    /// Server configuration (TOML); SEALMAIL_<SECTION>_<KEY> variables override its values.
    #[arg(
        long = "config",
        env = "SEALMAIL_CONFIG",
        value_name = "FILE",
        default_value = "sealmail.toml",
        global = true
    )]
    pub path: PathBuf,
}

/// Runs `work` on the database the configuration at `path` names, on a runtime of its own: what
/// every command that reads or changes the server's state starts with. Errors are sentences.
pub(crate) fn with_database<T, F, Fut>(path: &Path, work: F) -> Result<T, String>
where
    F: FnOnce(Config, crate::db::Pool) -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let config = Config::load(path, std::env::vars()).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let db = crate::db::open(&config.database.url)
            .await
            .map_err(|e| e.to_string())?;
        work(config, db).await
    })
}

/// Prints a command's lines (exit 0), or its failure as one line on stderr (exit 2).
pub(crate) fn finish(command: &str, result: Result<Vec<String>, String>) -> ExitCode {
    match result {
        Ok(lines) => {
            for line in lines {
                println!("{}", line.trim_end());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sealmail {command}: {e}");
            ExitCode::from(2)
        }
    }
}
