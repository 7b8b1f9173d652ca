//! Test support for the property tests of parsers that read what a host
//! sends back: many cases, and mutations of well-formed input (bytes
//! replaced, inserted, deleted, cut short; multi-byte characters among them,
//! since a character straddling a fixed byte offset is what broke
//! `SHA256SUMS`).

use proptest::prelude::*;

/// Cases per property: each parser is cheap, so many.
pub const CASES: u32 = 3000;

pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
pub enum Edit {
    Replace(usize, Vec<u8>),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

/// Bytes that reach deep: separators, multi-byte characters, digits, JSON.
fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(vec![
            "\0",
            "\n",
            " ",
            "  ",
            " *",
            "\\",
            "é",
            "€",
            "😀",
            "\u{85}",
            "0",
            "9",
            "-1",
            "99999999999999999999999999999999999999999",
            ".",
            "{",
            "}",
            "[",
            "]",
            "\"",
            ":",
            "null",
            "true",
            "1\0G\0",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), token()).prop_map(|(i, t)| Edit::Replace(i, t)),
        (any::<usize>(), token()).prop_map(|(i, t)| Edit::Insert(i, t)),
        (any::<usize>(), 1..8usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

pub fn mutate(base: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = base.to_vec();
    for e in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match e {
            Edit::Replace(i, t) => {
                let i = at(*i, b.len());
                let end = (i + t.len()).min(b.len());
                b.splice(i..end, t.iter().copied());
            }
            Edit::Insert(i, t) => {
                let i = at(*i, b.len());
                b.splice(i..i, t.iter().copied());
            }
            Edit::Delete(i, n) => {
                let i = at(*i, b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Edit::Truncate(i) => b.truncate(at(*i, b.len())),
        }
    }
    b
}

pub fn mutated(base: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(edit(), 1..6).prop_map(move |edits| mutate(base, &edits))
}

pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
