//! Parses arbitrary text as a server, client (with `process:` allowed) and raw
//! description. Nothing may panic; whatever parses must print to a canonical form
//! that parses back to the same value, and `Display` must hold no control character;
//! errors must point into the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use strports_core::grammar::{parse_raw, quote};
use strports_core::{ClientDescription, ParseError, Registry, ServerDescription};

fn check_error(input: &str, err: &ParseError) {
    assert!(err.offset() <= input.len(), "{input:?}: {err:?}");
    assert!(input.is_char_boundary(err.offset()), "{input:?}: {err:?}");
    let first = err.message().chars().next().expect("non-empty message");
    assert!(!first.is_uppercase(), "{input:?}: {err:?}");
    assert!(
        err.message()
            .contains(&format!("at offset {}", err.offset())),
        "{input:?}: {err:?}"
    );
    let _ = err.caret(input);
}

fn check(input: &str) {
    match input.parse::<ServerDescription>() {
        Ok(desc) => {
            let printed = desc.canonical();
            let again: ServerDescription = printed
                .parse()
                .unwrap_or_else(|e| panic!("{input:?} printed as {printed:?}: {e}"));
            assert_eq!(again, desc, "{input:?} printed as {printed:?}");
            assert_eq!(again.canonical(), printed);
            assert!(!desc.to_string().contains(char::is_control), "{input:?}");
            let _ = desc.fields();
        }
        Err(e) => check_error(input, &e),
    }
    let programs = Registry::with_programs();
    match programs.parse_client(input) {
        Ok(desc) => {
            let printed = desc.canonical();
            let again: ClientDescription = programs
                .parse_client(&printed)
                .unwrap_or_else(|e| panic!("{input:?} printed as {printed:?}: {e}"));
            assert_eq!(again, desc, "{input:?} printed as {printed:?}");
            assert_eq!(again.canonical(), printed);
            assert!(!desc.to_string().contains(char::is_control), "{input:?}");
            let _ = desc.fields();
        }
        Err(e) => check_error(input, &e),
    }
    match parse_raw(input) {
        Ok(raw) => {
            let mut parts: Vec<String> = raw.args().map(|a| quote(a).into_owned()).collect();
            parts.extend(
                raw.kwargs()
                    .map(|(k, v)| format!("{}={}", quote(k), quote(v))),
            );
            let printed = parts.join(":");
            let again = parse_raw(&printed).unwrap_or_else(|e| panic!("{printed:?}: {e}"));
            assert!(again.args().eq(raw.args()), "{input:?} -> {printed:?}");
            assert!(again.kwargs().eq(raw.kwargs()), "{input:?} -> {printed:?}");
        }
        Err(e) => check_error(input, &e),
    }
    // Any text survives quoting as a positional and as a keyword value.
    let quoted = format!("t:{}:k={}", quote(input), quote(input));
    let raw = parse_raw(&quoted).expect("quoted text parses");
    assert!(raw.args().eq(["t", input]));
    assert!(raw.kwargs().eq([("k", input)]));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = std::str::from_utf8(data) {
        check(input);
    }
});
