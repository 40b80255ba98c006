//! Which content-encryption algorithm a message is sealed with: the first of the admin's
//! algorithms (EncryptionAlgorithms, in the admin's order) that every recipient's software reads.

/// What a client that never announced its capabilities is assumed to read: the CBC modes every
/// S/MIME client reads (RFC 8551 §2.7.1).
pub const SAFE_DEFAULT: [&str; 2] = ["aes256-cbc", "aes128-cbc"];

/// The admin's algorithms a recipient reads; `announced` is what their signatures said, if any.
pub fn readable<'a>(announced: Option<&[String]>, allowed: &'a [String]) -> Vec<&'a str> {
    allowed
        .iter()
        .map(String::as_str)
        .filter(|a| match announced {
            Some(known) => known.iter().any(|k| k == a),
            None => SAFE_DEFAULT.contains(a),
        })
        .collect()
}

/// The first allowed algorithm every reader reads. Every allowed algorithm is one we read, so
/// the sender's own copy never narrows the choice.
pub fn common<'a>(readers: &[Option<&[String]>], allowed: &'a [String]) -> Option<&'a str> {
    allowed
        .iter()
        .map(String::as_str)
        .find(|a| readers.iter().all(|r| readable(*r, allowed).contains(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_admins_order_wins_among_what_everyone_reads() {
        let allowed = names(&["aes256-gcm", "aes128-gcm", "aes256-cbc"]);
        let modern = names(&["aes128-gcm", "aes256-gcm", "aes256-cbc"]);
        let old = names(&["aes256-cbc"]);
        assert_eq!(common(&[Some(&modern)], &allowed), Some("aes256-gcm"));
        assert_eq!(
            common(&[Some(&modern), Some(&old)], &allowed),
            Some("aes256-cbc")
        );
        assert_eq!(common(&[Some(&modern), None], &allowed), Some("aes256-cbc"));
        assert_eq!(common(&[], &allowed), Some("aes256-gcm"));
    }

    #[test]
    fn nothing_in_common_is_none() {
        let allowed = names(&["aes256-gcm"]);
        assert_eq!(common(&[None], &allowed), None);
        assert!(readable(Some(&names(&["des-ede3-cbc"])), &allowed).is_empty());
    }
}
