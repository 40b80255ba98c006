//! How an encrypted message reaches its Bcc recipients. Encrypted mail names every recipient in
//! its RecipientInfos, which anyone who receives it can read, so Bcc recipients get their own
//! message (SecurityFlags 0x040 and 0x080 choose how). The module splits with [`split`]; the
//! server checks what it was sent with [`check_split`].

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BccMode {
    /// One message for To and Cc, and one for each Bcc recipient (OWA's default).
    Separate,
    /// One message for To and Cc, and one for all Bcc recipients together (0x040).
    Together,
    /// One message for everyone (0x080): Bcc recipients are visible in the RecipientInfos.
    WithEveryone,
}

/// A recipient the message can be encrypted to, as far as splitting cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader<T> {
    pub address: String,
    /// The distribution list the address came through, if any.
    pub via: Option<String>,
    pub key: T,
}

/// One message of a split send. `to` is `None` for the first message, whose recipients the
/// server knows from To and Cc; otherwise the Bcc addresses this message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<T> {
    pub to: Option<Vec<String>>,
    pub readers: Vec<Reader<T>>,
}

/// Splits `readers` into the messages `mode` asks for. `bcc` is the Bcc field's addresses;
/// a list member belongs with the list it came through. A Bcc address without a reader still
/// gets its message (sealed to the sender only), so the envelope matches what was typed.
pub fn split<T: Clone>(readers: &[Reader<T>], bcc: &[String], mode: BccMode) -> Vec<Part<T>> {
    let hidden_as = |r: &Reader<T>| {
        [Some(&r.address), r.via.as_ref()]
            .into_iter()
            .flatten()
            .find(|a| bcc.iter().any(|b| b.eq_ignore_ascii_case(a)))
            .cloned()
    };
    if mode == BccMode::WithEveryone || bcc.is_empty() {
        return vec![Part {
            to: None,
            readers: readers.to_vec(),
        }];
    }
    let visible = Part {
        to: None,
        readers: readers
            .iter()
            .filter(|r| hidden_as(r).is_none())
            .cloned()
            .collect(),
    };
    let mut parts = vec![visible];
    match mode {
        BccMode::Together => parts.push(Part {
            to: Some(bcc.to_vec()),
            readers: readers
                .iter()
                .filter(|r| hidden_as(r).is_some())
                .cloned()
                .collect(),
        }),
        _ => {
            for address in bcc {
                parts.push(Part {
                    to: Some(vec![address.clone()]),
                    readers: readers
                        .iter()
                        .filter(|r| hidden_as(r).is_some_and(|a| a.eq_ignore_ascii_case(address)))
                        .cloned()
                        .collect(),
                });
            }
        }
    }
    parts
}

/// Did the page split an encrypted send as the policy says? `forks` are the recipient lists of
/// the extra messages it posted. A message that is only signed names no recipient, so it is
/// never split.
pub fn check_split(mode: BccMode, encrypted: bool, bcc: &[String], forks: &[Vec<String>]) -> bool {
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let needs_split = encrypted && !bcc.is_empty() && mode != BccMode::WithEveryone;
    if !needs_split {
        return forks.is_empty();
    }
    let covered: Vec<&String> = forks.iter().flatten().collect();
    let exact = covered.len() == bcc.len()
        && bcc.iter().all(|b| covered.iter().any(|c| same(b, c)))
        && covered.iter().all(|c| bcc.iter().any(|b| same(b, c)));
    let shaped = match mode {
        BccMode::Separate => forks.iter().all(|f| f.len() == 1),
        BccMode::Together => forks.len() == 1,
        BccMode::WithEveryone => true,
    };
    exact && shaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(address: &str, via: Option<&str>) -> Reader<u8> {
        Reader {
            address: address.into(),
            via: via.map(String::from),
            key: 0,
        }
    }

    fn addresses(part: &Part<u8>) -> Vec<&str> {
        part.readers.iter().map(|r| r.address.as_str()).collect()
    }

    #[test]
    fn each_bcc_recipient_gets_a_message_of_their_own() {
        let readers = [
            reader("a@x", None),
            reader("b@x", None),
            reader("c@x", None),
        ];
        let bcc = ["B@x".to_string(), "c@x".to_string()];
        let parts = split(&readers, &bcc, BccMode::Separate);
        assert_eq!(parts.len(), 3);
        assert_eq!(addresses(&parts[0]), ["a@x"]);
        assert_eq!(parts[1].to.as_deref(), Some(&["B@x".to_string()][..]));
        assert_eq!(addresses(&parts[1]), ["b@x"]);
        assert_eq!(addresses(&parts[2]), ["c@x"]);
        let forks: Vec<Vec<String>> = parts[1..].iter().filter_map(|p| p.to.clone()).collect();
        assert!(check_split(BccMode::Separate, true, &bcc, &forks));
    }

    #[test]
    fn list_members_travel_with_their_list() {
        let readers = [reader("a@x", None), reader("m@x", Some("team@x"))];
        let bcc = ["team@x".to_string()];
        let parts = split(&readers, &bcc, BccMode::Together);
        assert_eq!(addresses(&parts[0]), ["a@x"]);
        assert_eq!(addresses(&parts[1]), ["m@x"]);
    }

    #[test]
    fn with_everyone_is_one_message() {
        let readers = [reader("a@x", None), reader("b@x", None)];
        let parts = split(&readers, &["b@x".into()], BccMode::WithEveryone);
        assert_eq!(parts.len(), 1);
        assert_eq!(addresses(&parts[0]), ["a@x", "b@x"]);
    }

    #[test]
    fn a_wrong_split_is_refused() {
        let bcc = ["b@x".to_string(), "c@x".to_string()];
        let together = vec![bcc.to_vec()];
        assert!(!check_split(BccMode::Separate, true, &bcc, &together));
        assert!(check_split(BccMode::Together, true, &bcc, &together));
        assert!(!check_split(
            BccMode::Together,
            true,
            &bcc,
            &[vec!["b@x".into()]]
        ));
        assert!(!check_split(BccMode::Separate, false, &bcc, &together));
        assert!(check_split(BccMode::Separate, false, &bcc, &[]));
    }
}
