//! The Identities page (under Options): the From addresses the user sends as, each with a
//! display name and a signature text; adding one (when the admin allows it), choosing the
//! default, removing an added one. Also [`load`], the user's identities as the compose page and
//! every send see them.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Shared;
use super::auth::User;
use super::errors::PageError;
use super::views::{self, Chrome, IdentitiesPage, IdentityRow};
use crate::identities::{self, Allowance, Identity, Origin, Refusal, Stored, UserAddresses};
use crate::imap;
use crate::sessions::SignedIn;

/// A user's identities, with what decided them.
pub(super) struct Mine {
    pub list: Vec<Identity>,
    primary: String,
    directory: Vec<String>,
    stored: Vec<Stored>,
    setting: UserAddresses,
}

impl Mine {
    pub fn allowance(&self) -> Allowance<'_> {
        Allowance {
            primary: &self.primary,
            directory: &self.directory,
            user_addresses: self.setting,
        }
    }

    /// The identity the user may send as `address` with, or why not.
    pub fn sendable(&self, address: &str) -> Result<&Identity, Refusal> {
        let added: Vec<String> = self.stored.iter().map(|s| s.address.clone()).collect();
        identities::may_send_as(&self.allowance(), address, &added)?;
        self.list
            .iter()
            .find(|i| i.address.eq_ignore_ascii_case(address.trim()))
            .ok_or_else(|| Refusal::NotYours(address.trim().to_string()))
    }

    pub fn primary(&self) -> &str {
        &self.primary
    }

    pub fn default(&self) -> &Identity {
        self.list
            .iter()
            .find(|i| i.is_default)
            .unwrap_or(&self.list[0])
    }
}

/// The user's identities: the sign-in address, the aliases the directory (live LDAP first,
/// then the imported tables) knows for it, and what the user added and chose.
pub(super) async fn load(state: &Shared, user: &SignedIn) -> Result<Mine, PageError> {
    let primary = crate::directory::normalize(&user.email);
    let (directory, name) = match state.directory.entry(&primary).await {
        Some(entry) => {
            let person = entry.person;
            let mut addresses = person.aliases;
            addresses.push(person.address);
            addresses.retain(|a| *a != primary);
            (addresses, person.display_name)
        }
        None => (Vec::new(), String::new()),
    };
    let stored = state.identities.list(&primary).await?;
    let setting = state.config.identities.user_addresses;
    let allowance = Allowance {
        primary: &primary,
        directory: &directory,
        user_addresses: setting,
    };
    // A directory without a display name gives the address itself: no name is better then.
    let name = if name.eq_ignore_ascii_case(&primary) {
        String::new()
    } else {
        name
    };
    let list = identities::list(&allowance, &stored, &name);
    Ok(Mine {
        list,
        primary,
        directory,
        stored,
        setting,
    })
}

#[derive(Deserialize)]
pub struct PageQuery {
    notice: Option<String>,
}

pub async fn page(
    State(state): State<Shared>,
    user: User,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let notice = views::notice_text(q.notice.as_deref());
    Ok(render(&state, &user, notice, None, AddForm::default())
        .await?
        .into_response())
}

/// What the add form held, shown again with the reason it was refused.
#[derive(Default)]
struct AddForm {
    address: String,
    name: String,
    signature: String,
}

/// The page again, with the reason a change was refused above it (nothing was changed).
async fn refused(
    state: &Shared,
    user: &User,
    why: String,
    typed: AddForm,
) -> Result<Response, PageError> {
    let page = render(state, user, None, Some(why), typed).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn render(
    state: &Shared,
    user: &User,
    notice: Option<&'static str>,
    error: Option<String>,
    typed: AddForm,
) -> Result<IdentitiesPage, PageError> {
    let folders = with_imap!(state, &user.0, |s| { imap::mailbox::folders(s).await })?;
    let chrome = Chrome::new(&user.0.email, &user.0.csrf_token, &folders, "", notice)
        .with_policy(&state.policy.current());
    let mine = load(state, &user.0).await?;
    let primary_domain = mine.primary.rsplit_once('@').map_or("", |(_, d)| d);
    let add_hint = match mine.setting {
        UserAddresses::None => None,
        UserAddresses::Domain => Some(format!("You can add addresses at {primary_domain}.")),
        UserAddresses::Any => Some("You can add any address you send from.".to_string()),
    };
    let rows = mine
        .list
        .iter()
        .map(|i| IdentityRow {
            address: i.address.clone(),
            from_text: i.from_text(),
            display_name: i.display_name.clone(),
            signature: i.signature.clone(),
            is_default: i.is_default,
            origin: match i.origin {
                Origin::Primary => "your sign-in address",
                Origin::Directory => "from the directory",
                Origin::Added => "added by you",
            },
            removable: i.origin == Origin::Added,
        })
        .collect();
    Ok(IdentitiesPage {
        chrome,
        identities: rows,
        add_hint,
        error,
        address: typed.address,
        name: typed.name,
        signature: typed.signature,
        max_name: identities::MAX_NAME,
        max_signature: identities::MAX_SIGNATURE,
    })
}

#[derive(Deserialize)]
pub struct SaveForm {
    csrf: String,
    address: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    signature: String,
}

/// Adds an address, or changes an identity's name and signature.
pub async fn save(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<SaveForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let mine = load(&state, &user.0).await?;
    let address = form.address.trim().to_ascii_lowercase();
    let known = mine.list.iter().any(|i| i.address == address);
    let checked = identities::check_texts(&form.name, &form.signature).and_then(|texts| {
        if !known {
            // Asked as though it were added: may the user send as it once it is?
            identities::may_send_as(&mine.allowance(), &address, std::slice::from_ref(&address))?;
            let added = mine.list.iter().filter(|i| i.origin == Origin::Added);
            if added.count() >= identities::MAX_ADDED {
                return Err(Refusal::TooMany);
            }
        }
        Ok(texts)
    });
    match checked {
        Ok((name, signature)) => {
            state
                .identities
                .save(&user.0.email, &address, &name, &signature)
                .await?;
            let notice = if known {
                "identity-saved"
            } else {
                "identity-added"
            };
            Ok(Redirect::to(&format!("/identities?notice={notice}")).into_response())
        }
        Err(why) => {
            // Only the add form is shown again with what was typed; an edit's fields are
            // shown as kept, with the reason above them.
            let typed = if known {
                AddForm::default()
            } else {
                AddForm {
                    address: form.address,
                    name: form.name,
                    signature: form.signature,
                }
            };
            refused(&state, &user, why.to_string(), typed).await
        }
    }
}

#[derive(Deserialize)]
pub struct AddressForm {
    csrf: String,
    address: String,
}

pub async fn make_default(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<AddressForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let mine = load(&state, &user.0).await?;
    if let Err(why) = mine.sendable(&form.address) {
        return refused(&state, &user, why.to_string(), AddForm::default()).await;
    }
    state
        .identities
        .set_default(&user.0.email, &form.address)
        .await?;
    Ok(Redirect::to("/identities?notice=identity-default").into_response())
}

pub async fn remove(
    State(state): State<Shared>,
    user: User,
    Form(form): Form<AddressForm>,
) -> Result<Response, PageError> {
    user.check_token(&form.csrf)?;
    let mine = load(&state, &user.0).await?;
    let address = form.address.trim().to_ascii_lowercase();
    let refusal = match mine.list.iter().find(|i| i.address == address) {
        Some(i) if i.origin == Origin::Primary => Some(Refusal::Primary(address.clone())),
        Some(i) if i.origin == Origin::Directory => Some(Refusal::FromDirectory(address.clone())),
        _ => None,
    };
    if let Some(why) = refusal {
        return refused(&state, &user, why.to_string(), AddForm::default()).await;
    }
    // A second click, or another tab, is not an error.
    state.identities.remove(&user.0.email, &address).await?;
    Ok(Redirect::to("/identities?notice=identity-removed").into_response())
}
