//! The `sealmail` command: `serve` runs the web server; `smime`, `cert`, `directory`,
//! `recovery` and `config` are the admin's tools.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sealmail_server::cli::ConfigFile;
use sealmail_server::config::{Config, LogFormat};

#[derive(Parser)]
#[command(
    name = "sealmail",
    version,
    about = "S/MIME web mail over your own IMAP and SMTP servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server.
    Serve {
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Sign, verify, encrypt and decrypt S/MIME messages (like `openssl cms`).
    Smime(sealmail_server::cli::smime::SmimeArgs),
    /// Check certificates as the server does.
    Cert(sealmail_server::cli::cert::CertArgs),
    /// Import certificates, people and distribution lists into the directory.
    Directory(sealmail_server::cli::directory::DirectoryArgs),
    /// Hand out the recovery copies of users' encryption keys.
    Recovery(sealmail_server::cli::recovery::RecoveryArgs),
    /// Show the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print every effective setting and where it came from (file, environment, default).
    Show {
        #[command(flatten)]
        config: ConfigFile,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs in the format its configuration asks for, so it starts logging once
    // that is read; the tools log as text.
    if !matches!(cli.command, Command::Serve { .. }) {
        sealmail_server::logging::init(LogFormat::Text);
    }
    match cli.command {
        Command::Smime(args) => sealmail_server::cli::smime::run(args),
        Command::Cert(args) => sealmail_server::cli::cert::run(args),
        Command::Directory(args) => sealmail_server::cli::directory::run(args),
        Command::Recovery(args) => sealmail_server::cli::recovery::run(args),
        Command::Config {
            command: ConfigCommand::Show { config },
        } => match sealmail_server::config::show(&config.path, std::env::vars()) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sealmail: {e}");
                ExitCode::from(2)
            }
        },
        Command::Serve {
            config: ConfigFile { path },
        } => {
            let config = match Config::load(&path, std::env::vars()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("sealmail: {e}");
                    return ExitCode::from(2);
                }
            };
            sealmail_server::logging::init(config.web.log_format);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("sealmail: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(sealmail_server::serve(config, Some(path))) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sealmail: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
