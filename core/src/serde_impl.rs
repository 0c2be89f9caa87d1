//! Descriptions (de)serialize as their canonical strings (feature `serde`): exactly
//! ([`canonical`](crate::ServerDescription::canonical), not the escaped `Display`),
//! and clients with the network types only (no `process:`).

use serde::de::{Deserialize, Deserializer, Error};
use serde::ser::{Serialize, Serializer};

use crate::{ClientDescription, ServerDescription};

impl Serialize for ServerDescription {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.canonical())
    }
}

impl<'de> Deserialize<'de> for ServerDescription {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(D::Error::custom)
    }
}

impl Serialize for ClientDescription {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.canonical())
    }
}

impl<'de> Deserialize<'de> for ClientDescription {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use crate::{ClientDescription, ServerDescription};

    #[test]
    fn descriptions_are_strings_in_json() {
        let d: ServerDescription = r"tcp6:80:interface=\:\:1".parse().unwrap();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, r#""tcp6:80:interface=\\:\\:1""#);
        assert_eq!(serde_json::from_str::<ServerDescription>(&json).unwrap(), d);
        let c: ClientDescription = serde_json::from_str(r#""tcp:h:1""#).unwrap();
        assert_eq!(c.to_string(), "tcp:h:1");
        let err = serde_json::from_str::<ClientDescription>(r#""tcp:h:x""#).unwrap_err();
        assert!(
            err.to_string().contains("invalid port \"x\" at offset 6"),
            "{err}"
        );
        // Exactly, control characters included (JSON escapes them itself).
        let d: ServerDescription = "unix:/tmp/a\nb".parse().unwrap();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, r#""unix:/tmp/a\nb""#);
        assert_eq!(serde_json::from_str::<ServerDescription>(&json).unwrap(), d);
        // Deserializing never allows program types.
        let err = serde_json::from_str::<ClientDescription>(r#""process:id""#).unwrap_err();
        assert!(err.to_string().contains("runs a program"), "{err}");
    }
}
