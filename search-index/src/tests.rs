use super::*;

fn entry(folder: &str, uid: u32, subject: &str, date: i64) -> Entry {
    Entry {
        folder: folder.into(),
        uid,
        subject: subject.into(),
        from: "Alice <alice@example.test>".into(),
        date,
    }
}

fn uids(index: &Index, query: &str) -> Vec<u32> {
    index
        .search(query, None)
        .unwrap()
        .iter()
        .map(|e| e.uid)
        .collect()
}

#[test]
fn every_word_must_be_there_and_results_come_newest_first() {
    let mut index = Index::new();
    index.add(
        entry("INBOX", 1, "Budget", 100),
        "The quarterly reports are attached.",
    );
    index.add(
        entry("INBOX", 2, "Lunch", 300),
        "One report, and lunch on Friday.",
    );
    index.add(entry("INBOX", 3, "Holiday", 200), "Nothing about that.");
    assert_eq!(uids(&index, "report"), [2, 1]);
    assert_eq!(uids(&index, "REPORTS lunch"), [2]);
    assert_eq!(uids(&index, "report holiday"), Vec::<u32>::new());
    // Subject and sender are searched too.
    assert_eq!(uids(&index, "holiday"), [3]);
    assert_eq!(uids(&index, "alice"), [2, 3, 1]);
}

#[test]
fn german_words_are_found_inflected_and_without_their_accents() {
    let mut index = Index::new();
    index.add(
        entry("INBOX", 7, "Übersicht", 1),
        "Die Berichte für Herrn Müller, mit Grüßen",
    );
    assert_eq!(uids(&index, "bericht"), [7]);
    assert_eq!(uids(&index, "muller"), [7]);
    assert_eq!(uids(&index, "Grüssen"), [7]);
    assert_eq!(uids(&index, "ubersicht"), [7]);
}

#[test]
fn a_folder_narrows_and_a_replaced_or_removed_message_is_not_found_twice() {
    let mut index = Index::new();
    index.add(entry("INBOX", 1, "a", 1), "walrus");
    index.add(entry("Archive", 1, "b", 2), "walrus");
    let in_archive = index.search("walrus", Some("Archive")).unwrap();
    assert_eq!(in_archive.len(), 1);
    assert_eq!(in_archive[0].folder, "Archive");
    index.add(entry("INBOX", 1, "a", 1), "penguin");
    assert_eq!(index.len(), 2);
    assert_eq!(uids(&index, "walrus"), [1]);
    assert_eq!(index.search("walrus", None).unwrap()[0].folder, "Archive");
    index.remove("Archive", 1);
    assert!(index.search("walrus", None).unwrap().is_empty());
    assert!(index.contains("INBOX", 1) && !index.contains("Archive", 1));
}

#[test]
fn bad_queries_say_why() {
    let index = Index::new();
    assert_eq!(
        index.search("  ,. ", None).unwrap_err(),
        IndexError::EmptyQuery
    );
    let long = "word ".repeat(101);
    assert_eq!(
        index.search(&long, None).unwrap_err(),
        IndexError::QueryTooLong
    );
}

#[test]
fn the_bytes_read_back_to_the_same_answers_and_damaged_bytes_are_refused() {
    let mut index = Index::new();
    for uid in 1..=50 {
        let word = if uid % 10 == 0 { "zebra" } else { "horse" };
        index.add(
            entry("INBOX", uid, "s", i64::from(uid)),
            &format!("a {word} here"),
        );
    }
    index.remove("INBOX", 20);
    let bytes = index.to_bytes();
    let again = Index::from_bytes(&bytes).unwrap();
    assert_eq!(again.len(), 49);
    assert_eq!(uids(&again, "zebra"), [50, 40, 30, 10]);
    assert_eq!(again.to_bytes(), bytes);

    assert!(Index::from_bytes(&[]).is_err());
    assert!(Index::from_bytes(&[9, 0]).is_err());
    for cut in [1, bytes.len() / 2, bytes.len() - 1] {
        assert_eq!(
            Index::from_bytes(&bytes[..cut]).err(),
            Some(IndexError::Unreadable)
        );
    }
}

#[test]
fn only_the_first_megabyte_of_a_message_is_indexed() {
    let mut index = Index::new();
    let mut text = "ordinary ".repeat(MAX_TEXT_BYTES / 9 + 1);
    text.push_str("needle");
    index.add(entry("INBOX", 1, "big", 1), &text);
    assert!(index.search("needle", None).unwrap().is_empty());
    assert_eq!(uids(&index, "ordinary"), [1]);
}
