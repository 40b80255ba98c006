//! Whether a message is signed or encrypted, told from its top-level MIME type alone, so the
//! message list can say so from IMAP BODYSTRUCTURE without fetching any body. This is a label,
//! not a verdict: a signature is only checked when the message is opened.

/// What the list shows beside a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Protection {
    pub signed: bool,
    pub encrypted: bool,
}

/// The protection a message's top-level part declares: `ty`/`subtype` and `params` of its
/// Content-Type, and the file name its Content-Disposition gives, if any.
///
/// An encrypted message hides whether it is also signed inside, so it only shows as encrypted.
/// A signature further down (a forwarded signed message, say) is not the sender's own, so only
/// the top level counts.
pub fn protection(
    ty: &str,
    subtype: &str,
    params: &[(&str, &str)],
    filename: Option<&str>,
) -> Protection {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let is = |a: &str, b: &str| ty.eq_ignore_ascii_case(a) && subtype.eq_ignore_ascii_case(b);
    if is("multipart", "signed") {
        // multipart/signed is also used by PGP/MIME; only an S/MIME signature is ours to label.
        let smime = param("protocol").is_some_and(|p| {
            p.eq_ignore_ascii_case("application/pkcs7-signature")
                || p.eq_ignore_ascii_case("application/x-pkcs7-signature")
        });
        return Protection {
            signed: smime,
            encrypted: false,
        };
    }
    if !(is("application", "pkcs7-mime") || is("application", "x-pkcs7-mime")) {
        return Protection::default();
    }
    match param("smime-type").map(str::to_ascii_lowercase).as_deref() {
        Some("enveloped-data" | "authenveloped-data") => Protection {
            signed: false,
            encrypted: true,
        },
        Some("signed-data") => Protection {
            signed: true,
            encrypted: false,
        },
        // Older senders leave smime-type out; RFC 8551 names enveloped data `smime.p7m`, and
        // signed-data would be `.p7m` too, but encrypted is what such mail nearly always is.
        None => Protection {
            signed: false,
            encrypted: param("name")
                .or(filename)
                .is_some_and(|n| n.to_ascii_lowercase().ends_with(".p7m")),
        },
        // compressed-data, certs-only and the like carry no protection to show.
        Some(_) => Protection::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: Protection = Protection {
        signed: true,
        encrypted: false,
    };
    const ENCRYPTED: Protection = Protection {
        signed: false,
        encrypted: true,
    };
    const NEITHER: Protection = Protection {
        signed: false,
        encrypted: false,
    };

    #[test]
    fn multipart_signed_counts_only_with_an_smime_protocol() {
        let with = |protocol| {
            protection(
                "multipart",
                "signed",
                &[
                    ("protocol", protocol),
                    ("micalg", "sha-256"),
                    ("boundary", "b"),
                ],
                None,
            )
        };
        assert_eq!(with("application/pkcs7-signature"), SIGNED);
        assert_eq!(with("application/x-pkcs7-signature"), SIGNED);
        assert_eq!(with("APPLICATION/PKCS7-SIGNATURE"), SIGNED);
        assert_eq!(with("application/pgp-signature"), NEITHER);
        assert_eq!(
            protection("MULTIPART", "Signed", &[("boundary", "b")], None),
            NEITHER
        );
    }

    #[test]
    fn enveloped_data_is_encrypted() {
        for subtype in ["pkcs7-mime", "x-pkcs7-mime"] {
            for kind in ["enveloped-data", "authEnveloped-data", "Enveloped-Data"] {
                let params = [("smime-type", kind), ("name", "smime.p7m")];
                assert_eq!(
                    protection("application", subtype, &params, None),
                    ENCRYPTED,
                    "{subtype} {kind}"
                );
            }
        }
    }

    #[test]
    fn opaque_signed_data_is_signed() {
        let params = [("smime-type", "signed-data"), ("name", "smime.p7m")];
        assert_eq!(
            protection("application", "pkcs7-mime", &params, None),
            SIGNED
        );
        assert_eq!(
            protection("application", "x-pkcs7-mime", &params, None),
            SIGNED
        );
    }

    #[test]
    fn without_smime_type_a_p7m_name_means_encrypted() {
        let mime = |params: &[(&str, &str)], filename| {
            protection("application", "x-pkcs7-mime", params, filename)
        };
        assert_eq!(mime(&[("name", "smime.p7m")], None), ENCRYPTED);
        assert_eq!(mime(&[], Some("SMIME.P7M")), ENCRYPTED);
        assert_eq!(mime(&[], None), NEITHER);
        assert_eq!(mime(&[("name", "smime.p7z")], None), NEITHER);
        assert_eq!(mime(&[("smime-type", "compressed-data")], None), NEITHER);
        assert_eq!(mime(&[("smime-type", "certs-only")], None), NEITHER);
    }

    #[test]
    fn plain_and_mixed_mail_is_neither() {
        assert_eq!(
            protection("text", "plain", &[("charset", "utf-8")], None),
            NEITHER
        );
        assert_eq!(
            protection("multipart", "mixed", &[("boundary", "b")], None),
            NEITHER
        );
        assert_eq!(
            protection("multipart", "alternative", &[("boundary", "b")], None),
            NEITHER
        );
        // A .p7m attachment under another type is a file, not this message's protection.
        assert_eq!(
            protection("application", "octet-stream", &[("name", "x.p7m")], None),
            NEITHER
        );
    }
}
