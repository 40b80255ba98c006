//! CMS ContentInfo (RFC 5652 §3): the wrapper every CMS structure arrives in, read once for the
//! signed, enveloped and authenticated-enveloped readers alike.

use der::Decode;
use der::asn1::ObjectIdentifier;

use crate::ber::{self, Element};
use crate::error::Result;

/// Split a DER ContentInfo into its type and the element inside `[0] EXPLICIT`.
pub(crate) fn split(der: &[u8]) -> Result<(ObjectIdentifier, Element<'_>)> {
    let top = ber::parse_one(der)?;
    let fields = top.children()?;
    let [content_type, explicit] = fields.as_slice() else {
        return Err(der::Error::from(der::ErrorKind::Length {
            tag: der::Tag::Sequence,
        })
        .into());
    };
    let content_type = ObjectIdentifier::from_der(content_type.raw)?;
    if !explicit.tag.is_context(0) {
        return Err(der::Error::from(der::ErrorKind::TagUnexpected {
            expected: None,
            actual: der::Tag::Null,
        })
        .into());
    }
    Ok((content_type, ber::parse_one(explicit.contents)?))
}
