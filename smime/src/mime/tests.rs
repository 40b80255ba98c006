//! The MIME layer's unit tests: reading, the encodings and building, each against the bytes
//! RFC 8551 and RFC 2045 call for.

use super::build::*;
use super::encode::*;
use super::parse::*;
use super::*;

#[test]
fn quoted_printable_is_7bit_with_short_lines() {
    let text = format!("a=b tail \nFrom me\n.\n{}ü\n", "x".repeat(200));
    let qp = encode_quoted_printable(&text);
    assert!(is_7bit_safe(&qp));
    assert!(qp.split(|&b| b == b'\n').all(|l| l.len() <= 77));
    let s = String::from_utf8(qp).unwrap();
    assert!(
        s.starts_with("a=3Db tail=20\r\n=46rom me\r\n=2E\r\nxxx"),
        "{s}"
    );
    assert!(s.ends_with("=C3=BC\r\n"), "{s}");
}

#[test]
fn formatted_text_goes_out_as_an_alternative_beside_attachments() {
    let html = "<!DOCTYPE html>\n<html><body><b>Gr\u{fc}\u{df}e</b></body></html>\n";
    let built = build_mixed(
        "Gr\u{fc}\u{df}e",
        Some(html),
        &[Attachment {
            name: "a.txt",
            content_type: "text/plain",
            data: b"x",
        }],
    );
    assert_eq!(make_7bit_safe(built.clone()).unwrap(), built);
    let mixed = Entity::parse(&built).unwrap();
    assert!(mixed.content_type().is("multipart/mixed"));
    let outer = mixed.content_type().param("boundary").unwrap().to_string();
    let parts = split_multipart(mixed.body, &outer).unwrap();
    assert_eq!(parts.len(), 2);
    let alternative = Entity::parse(parts[0]).unwrap();
    assert!(alternative.content_type().is("multipart/alternative"));
    let inner = alternative
        .content_type()
        .param("boundary")
        .unwrap()
        .to_string();
    assert_ne!(inner, outer);
    let texts = split_multipart(alternative.body, &inner).unwrap();
    let plain = Entity::parse(texts[0]).unwrap();
    let rich = Entity::parse(texts[1]).unwrap();
    assert!(plain.content_type().is("text/plain"));
    assert_eq!(plain.transfer_encoding(), "quoted-printable");
    assert_eq!(plain.body, b"Gr=C3=BC=C3=9Fe");
    assert!(rich.content_type().is("text/html"));
    assert!(
        String::from_utf8_lossy(rich.body).contains("<b>Gr=C3=BC=C3=9Fe</b>"),
        "{}",
        String::from_utf8_lossy(rich.body)
    );
}

#[test]
fn build_mixed_is_a_safe_multipart() {
    let plain = build_mixed("hi", None, &[]);
    assert!(plain.starts_with(b"Content-Type: text/plain; charset=utf-8\r\n"));
    let data = [0u8, 1, 2, 255];
    let built = build_mixed(
        "hi",
        None,
        &[
            Attachment {
                name: "a \"b\".bin",
                content_type: "Application/X-Thing",
                data: &data,
            },
            Attachment {
                name: "März.txt",
                content_type: "bad type",
                data: &data,
            },
        ],
    );
    assert_eq!(make_7bit_safe(built.clone()).unwrap(), built);
    let entity = Entity::parse(&built).unwrap();
    let boundary = entity.content_type().param("boundary").unwrap().to_string();
    let parts = split_multipart(entity.body, &boundary).unwrap();
    assert_eq!(parts.len(), 3);
    let first = Entity::parse(parts[1]).unwrap();
    assert_eq!(first.decoded_body().unwrap(), data);
    assert!(
        first
            .header("content-type")
            .unwrap()
            .contains("application/x-thing")
    );
    assert!(
        first
            .header("content-disposition")
            .unwrap()
            .contains(r#"filename="a \"b\".bin""#)
    );
    let second = Entity::parse(parts[2]).unwrap();
    assert!(
        second
            .header("content-type")
            .unwrap()
            .starts_with("application/octet-stream")
    );
    assert!(
        second
            .header("content-disposition")
            .unwrap()
            .contains("filename*=utf-8''M%C3%A4rz.txt")
    );
}

#[test]
fn canonicalize_converts_bare_lf_only() {
    assert_eq!(canonicalize(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
    assert_eq!(canonicalize(b"\n\n"), b"\r\n\r\n");
    assert_eq!(canonicalize(b""), b"");
}

#[test]
fn entity_parse_with_folding_and_lf() {
    let msg = b"Subject: hello\n  world\nContent-Type: text/plain;\n\tcharset=utf-8\n\nbody\n";
    let e = Entity::parse(msg).unwrap();
    assert_eq!(e.fields.len(), 2);
    assert_eq!(e.header("subject").unwrap(), "hello  world");
    assert_eq!(e.content_type().param("charset"), Some("utf-8"));
    assert_eq!(e.body, b"body\n");
    assert_eq!(e.fields[0].raw, b"Subject: hello\n  world\n");
}

#[test]
fn entity_without_body_or_headers() {
    let e = Entity::parse(b"X: y\r\n").unwrap();
    assert_eq!(e.fields.len(), 1);
    assert_eq!(e.body, b"");
    let e = Entity::parse(b"\r\nbody").unwrap();
    assert!(e.fields.is_empty());
    assert_eq!(e.body, b"body");
    assert_eq!(
        Entity::parse(b" cont\r\n\r\n"),
        Err(MimeError::MalformedHeader(1))
    );
    assert_eq!(
        Entity::parse(b"no colon\r\n\r\n"),
        Err(MimeError::MalformedHeader(1))
    );
}

#[test]
fn content_type_parameters() {
    let ct = ContentType::parse(
        "Multipart/Signed; protocol=\"application/pkcs7-signature\"; micalg=SHA-256; boundary=\"a;b=\\\"c\\\"\"",
    );
    assert_eq!(ct.mime_type, "multipart/signed");
    assert_eq!(ct.param("micalg"), Some("SHA-256"));
    assert_eq!(ct.param("boundary"), Some("a;b=\"c\""));
    assert_eq!(ct.param("protocol"), Some("application/pkcs7-signature"));
}

#[test]
fn multipart_split_is_exact() {
    let body = b"preamble\r\n--b\r\nA: 1\r\n\r\none\r\n--b \r\n\r\ntwo\r\n\r\n--b--\r\nepilogue";
    let parts = split_multipart(body, "b").unwrap();
    assert_eq!(parts, vec![&b"A: 1\r\n\r\none"[..], &b"\r\ntwo\r\n"[..]]);
    // LF endings work the same; a longer boundary with the same prefix is not a delimiter.
    let body = b"--b\nx\n--bb\ny\n--b--\n";
    assert_eq!(
        split_multipart(body, "b").unwrap(),
        vec![&b"x\n--bb\ny"[..]]
    );
    // Missing close delimiter: the last part runs to the end.
    assert_eq!(
        split_multipart(b"--b\r\nx\r\n", "b").unwrap(),
        vec![&b"x"[..]]
    );
    assert_eq!(split_multipart(b"nothing", "b"), Err(MimeError::NoParts));
}

#[test]
fn base64_round_trip_and_leniency() {
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let enc = encode_base64_lines(&data);
    assert!(
        enc.split(|&b| b == b'\n')
            .all(|l| l.len() <= BASE64_LINE + 1)
    );
    assert_eq!(decode_base64(&enc).unwrap(), data);
    // One long line, LF endings, missing padding.
    assert_eq!(decode_base64(b"aGVsbG8\n").unwrap(), b"hello");
    assert_eq!(decode_base64(b"a"), Err(MimeError::Base64));
    assert_eq!(decode_base64(b"a$==").map_err(|_| ()), Err(()));
}

#[test]
fn split_message_separates_transport_fields() {
    let msg =
        b"From: a@example.test\nSubject: s\nMIME-Version: 1.0\nContent-Type: text/plain\n\nhi\n";
    let split = split_message(msg).unwrap();
    assert_eq!(
        split.outer_fields,
        b"From: a@example.test\r\nSubject: s\r\n"
    );
    assert_eq!(split.entity, b"Content-Type: text/plain\r\n\r\nhi\r\n");
    let bare = split_message(b"Subject: s\n\nhi").unwrap();
    assert_eq!(
        bare.entity,
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nhi"
    );
}

#[test]
fn eight_bit_leaves_become_base64() {
    let entity = "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\ngrüße\r\n--x\r\nContent-Type: text/plain\r\n\r\nascii\r\n--x--\r\n";
    let safe = make_7bit_safe(entity.as_bytes().to_vec()).unwrap();
    assert!(is_7bit_safe(&safe));
    let parsed = Entity::parse(&safe).unwrap();
    let parts = split_multipart(parsed.body, "x").unwrap();
    let first = Entity::parse(parts[0]).unwrap();
    assert_eq!(first.transfer_encoding(), "base64");
    assert_eq!(first.decoded_body().unwrap(), "grüße".as_bytes());
    assert_eq!(parts[1], b"Content-Type: text/plain\r\n\r\nascii");
    // Already safe: unchanged, preamble and all.
    let safe_input =
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\npre\r\n--x\r\n\r\na\r\n--x--\r\n";
    assert_eq!(make_7bit_safe(safe_input.to_vec()).unwrap(), safe_input);
}

#[test]
fn header_text_is_encoded_only_when_it_must_be() {
    assert_eq!(encode_header_text("Plain subject"), "Plain subject");
    let long = "Grüße aus Köln, und noch viel mehr Text, der nicht in ein Wort passt";
    let encoded = encode_header_text(long);
    assert!(encoded.starts_with("=?UTF-8?B?"));
    assert!(
        encoded
            .split("\r\n ")
            .all(|w| w.len() <= 75 && w.ends_with("?="))
    );
    let decoded: Vec<u8> = encoded
        .split("\r\n ")
        .flat_map(|w| decode_base64(&w.as_bytes()[10..w.len() - 2]).unwrap())
        .collect();
    assert_eq!(String::from_utf8(decoded).unwrap(), long);
}

#[test]
fn seven_bit_checks_bytes_bare_cr_and_line_length() {
    let line = |n| vec![b'a'; n];
    assert!(is_7bit_safe(b""));
    assert!(is_7bit_safe(
        &[line(MAX_LINE), b"\r\n".to_vec(), line(MAX_LINE)].concat()
    ));
    assert!(!is_7bit_safe(
        &[line(MAX_LINE + 1), b"\r\n".to_vec()].concat()
    ));
    assert!(!is_7bit_safe(
        &[b"ok\r\n".to_vec(), line(MAX_LINE + 1)].concat()
    ));
    assert!(!is_7bit_safe(b"a\rb\r\n"));
    assert!(!is_7bit_safe(b"ab\r"));
    assert!(!is_7bit_safe(b"a\0b\r\n"));
    assert!(!is_7bit_safe("grüße\r\n".as_bytes()));
}

#[test]
fn an_eight_bit_preamble_makes_the_multipart_rebuilt() {
    let entity =
        "Content-Type: multipart/mixed; boundary=x\r\n\r\npréambule\r\n--x\r\n\r\na\r\n--x--\r\n";
    let safe = make_7bit_safe(entity.as_bytes().to_vec()).unwrap();
    assert!(is_7bit_safe(&safe));
    assert_eq!(
        safe,
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\na\r\n--x--\r\n"
    );
}

#[test]
fn long_lines_are_not_7bit_safe() {
    let mut entity = b"Content-Type: text/plain\r\n\r\n".to_vec();
    entity.extend(std::iter::repeat_n(b'a', 1200));
    let safe = make_7bit_safe(entity.clone()).unwrap();
    assert!(Entity::parse(&safe).unwrap().transfer_encoding() == "base64");
}

#[test]
fn built_multipart_signed_parses_back() {
    let entity = b"Content-Type: text/plain\r\n\r\nhello\r\n";
    let msg = build_multipart_signed(b"Subject: x\r\n", entity, b"\x30\x00", "sha-256");
    match parse_smime(&msg).unwrap() {
        SmimeContent::ClearSigned {
            signed_content,
            signature,
        } => {
            assert_eq!(signed_content, entity);
            assert_eq!(signature, b"\x30\x00");
        }
        other => panic!("unexpected {other:?}"),
    }
    let top = Entity::parse(&msg).unwrap();
    assert_eq!(top.content_type().param("micalg"), Some("sha-256"));
}

#[test]
fn built_pkcs7_mime_parses_back() {
    let msg = build_pkcs7_mime(b"", b"\x30\x03\x02\x01\x00", SmimeType::EnvelopedData);
    assert_eq!(
        parse_smime(&msg).unwrap(),
        SmimeContent::Opaque {
            cms: b"\x30\x03\x02\x01\x00".to_vec()
        }
    );
    assert!(
        std::str::from_utf8(&msg)
            .unwrap()
            .contains("smime-type=enveloped-data")
    );
}

#[test]
fn x_pkcs7_types_are_recognised() {
    let msg = b"Content-Type: application/x-pkcs7-mime\n\nMAA=\n";
    assert_eq!(
        parse_smime(msg).unwrap(),
        SmimeContent::Opaque { cms: vec![0x30, 0] }
    );
    let signed = b"Content-Type: multipart/signed; boundary=q\n\n--q\nA: b\n\nt\n--q\nContent-Type: application/x-pkcs7-signature\n\nMAA=\n--q--\n";
    match parse_smime(signed).unwrap() {
        SmimeContent::ClearSigned { signed_content, .. } => {
            assert_eq!(signed_content, b"A: b\r\n\r\nt")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        parse_smime(b"Content-Type: text/plain\n\nx").unwrap(),
        SmimeContent::NotSmime
    );
}

#[test]
fn address_extraction() {
    assert_eq!(
        addresses("\"Doe, Jane\" <Jane@Example.TEST>, bob@example.test, undisclosed"),
        vec![
            "jane@example.test".to_string(),
            "bob@example.test".to_string()
        ]
    );
}
