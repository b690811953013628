//! The `type` field of each message kind: a unit value that accepts only its own name.

macro_rules! type_tag {
    ($name:ident, $text:literal) => {
        /// The `type` field of this message kind; it (de)serializes only as
        #[doc = concat!("`\"", $text, "\"`.")]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name;

        impl $name {
            /// The wire name.
            pub const NAME: &'static str = $text;
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($text)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                if s == $text {
                    Ok($name)
                } else {
                    Err(serde::de::Error::custom(format!(
                        "type is {s:?}, expected {:?}",
                        $text
                    )))
                }
            }
        }
    };
}

type_tag!(MessageType, "message");
type_tag!(PresenceType, "presence");
type_tag!(CommandType, "command");
type_tag!(EventType, "event");
type_tag!(WelcomeType, "welcome");
type_tag!(ErrorType, "error");
type_tag!(JoinOkType, "join:ok");
type_tag!(LeaveOkType, "leave:ok");
type_tag!(RecoveryType, "recovery");
