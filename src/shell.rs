//! Quoting values into POSIX shell words: the bottom layer every command
//! builder uses, so that no value from a plan can be read as shell syntax.

/// Quote one value as a single POSIX shell word.
pub fn quote(value: &str) -> String {
    match shlex::try_quote(value) {
        Ok(q) => q.into_owned(),
        // Only NUL cannot be quoted; no value cutter handles may contain it.
        Err(_) => shlex::try_quote(&value.replace('\0', ""))
            .map(|q| q.into_owned())
            .unwrap_or_default(),
    }
}

/// Quote every word of an argument vector and join them.
pub fn join(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// A relative path to a file in the current directory that can never be
/// read as an option (`./-x`).
pub fn here(name: &str) -> String {
    quote(&format!("./{name}"))
}
