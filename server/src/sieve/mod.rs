//! Out-of-office replies and filters, kept as one Sieve script on the user's ManageSieve server
//! (Dovecot Pigeonhole runs it at delivery). `settings` is what the user chooses, `script` turns it
//! into Sieve and back (no I/O), `client` speaks ManageSieve.

pub mod client;
pub mod script;
pub mod settings;

pub use client::SieveError;
pub use script::SCRIPT_NAME;
pub use settings::{SettingsError, SieveSettings};

use crate::config::SieveServer;

/// What the user's ManageSieve account holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Sealmail's script (active or not), with the settings read back from it; nothing stored
    /// yet gives the defaults.
    Ours {
        settings: SieveSettings,
        active: bool,
    },
    /// A script Sealmail did not write is active: saving would switch it off, so the user is
    /// asked first.
    Foreign { name: String, ours: SieveSettings },
}

impl Stored {
    /// The settings to show in the forms.
    pub fn settings(&self) -> &SieveSettings {
        match self {
            Stored::Ours { settings, .. } => settings,
            Stored::Foreign { ours, .. } => ours,
        }
    }
}

/// Why saving failed.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error(transparent)]
    Sieve(#[from] SieveError),
    /// Another script became active since the page was shown (or the user did not agree to
    /// replace it).
    #[error("your mailbox runs a filter script Sealmail did not write, {0:?}")]
    ForeignActive(String),
}

/// The ManageSieve server, reached anew for each page: the settings pages are rare visits.
pub struct ManageSieve {
    server: SieveServer,
}

impl ManageSieve {
    pub fn new(server: SieveServer) -> Self {
        Self { server }
    }

    async fn sign_in(&self, user: &str, password: &str) -> Result<client::Client, SieveError> {
        let mut client = client::Client::connect(
            &self.server.host,
            self.server.port,
            self.server.reply_timeout(),
        )
        .await?;
        client.authenticate(user, password).await?;
        Ok(client)
    }

    /// Reads what is stored for `user`.
    pub async fn load(&self, user: &str, password: &str) -> Result<Stored, SieveError> {
        let mut client = self.sign_in(user, password).await?;
        let scripts = client.list_scripts().await?;
        let ours = if scripts.iter().any(|(name, _)| name == SCRIPT_NAME) {
            let text = client.get_script(SCRIPT_NAME).await?;
            script::settings_in(&text)
        } else {
            None
        };
        let active = scripts
            .iter()
            .find(|(_, active)| *active)
            .map(|(name, _)| name.clone());
        client.logout().await;
        Ok(match (active, ours) {
            (Some(name), _) if name != SCRIPT_NAME => Stored::Foreign {
                name,
                ours: SieveSettings::default(),
            },
            // Our name, but edited by hand so that the settings cannot be read back.
            (Some(name), None) => Stored::Foreign {
                name,
                ours: SieveSettings::default(),
            },
            (active, ours) => Stored::Ours {
                settings: ours.unwrap_or_default(),
                active: active.is_some(),
            },
        })
    }

    /// Stores `settings` as Sealmail's script and makes it the active one. A foreign active
    /// script is replaced only with `replace_foreign` (it stays on the server, switched off).
    pub async fn save(
        &self,
        user: &str,
        password: &str,
        settings: &SieveSettings,
        replace_foreign: bool,
    ) -> Result<(), SaveError> {
        let mut client = self.sign_in(user, password).await?;
        if !replace_foreign {
            let scripts = client.list_scripts().await?;
            if let Some((name, _)) = scripts.iter().find(|(_, active)| *active) {
                let ours = name == SCRIPT_NAME
                    && script::settings_in(&client.get_script(SCRIPT_NAME).await?).is_some();
                if !ours {
                    client.logout().await;
                    return Err(SaveError::ForeignActive(name.clone()));
                }
            }
        }
        put_and_activate(&mut client, &script::render(settings)).await?;
        client.logout().await;
        Ok(())
    }

    /// Stores `script` as Sealmail's and activates it: the server checks it first, so a script
    /// it refuses changes nothing (the previous one stays stored and active). Public for the
    /// tests, which need a script the server refuses.
    pub async fn put_and_activate(
        &self,
        user: &str,
        password: &str,
        script: &str,
    ) -> Result<(), SieveError> {
        let mut client = self.sign_in(user, password).await?;
        put_and_activate(&mut client, script).await?;
        client.logout().await;
        Ok(())
    }

    /// The text of `user`'s active script, if any (for the tests, and for saying what runs).
    pub async fn active_script(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Option<(String, String)>, SieveError> {
        let mut client = self.sign_in(user, password).await?;
        let active = client
            .list_scripts()
            .await?
            .into_iter()
            .find(|(_, active)| *active);
        let result = match active {
            Some((name, _)) => {
                let text = client.get_script(&name).await?;
                Some((name, text))
            }
            None => None,
        };
        client.logout().await;
        Ok(result)
    }
}

async fn put_and_activate(client: &mut client::Client, script: &str) -> Result<(), SieveError> {
    client.have_space(SCRIPT_NAME, script.len()).await?;
    client.put_script(SCRIPT_NAME, script).await?;
    client.set_active(SCRIPT_NAME).await
}
