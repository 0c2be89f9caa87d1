//! A minimal JSON value whose objects keep their keys in insertion order.
//!
//! `serde_json::Value` sorts object keys unless its `preserve_order` feature is
//! enabled; the output of `strports parse --json` lists parameters in Twisted's
//! order, so it is built with this type instead. Strings are escaped by
//! `serde_json`.

use std::fmt;

/// A JSON value; objects keep insertion order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, keys in insertion order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// A string value.
    pub(crate) fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// An object from `(key, value)` pairs, in order.
    pub(crate) fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

/// Writes `s` as a JSON string literal.
fn write_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let quoted = serde_json::to_string(s).map_err(|_| fmt::Error)?;
    f.write_str(&quoted)
}

impl fmt::Display for Json {
    /// Compact JSON on one line (no spaces, no newlines).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Int(n) => write!(f, "{n}"),
            Json::Str(s) => write_str(f, s),
            Json::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Json::Object(pairs) => {
                f.write_str("{")?;
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_str(f, key)?;
                    write!(f, ":{value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Json;

    #[test]
    fn compact_and_ordered() {
        let v = Json::object([
            ("z", Json::Int(-1)),
            ("a", Json::str("q\"\\\n\u{0}")),
            (
                "m",
                Json::Array(vec![Json::Null, Json::Bool(true), Json::object::<&str>([])]),
            ),
        ]);
        assert_eq!(
            v.to_string(),
            r#"{"z":-1,"a":"q\"\\\n\u0000","m":[null,true,{}]}"#
        );
    }
}
