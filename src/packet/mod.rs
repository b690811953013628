//! Packets: a Redis channel and the bytes to publish there. Building one is pure: no I/O, no
//! clock and no randomness that is not passed in.

pub mod msgpack;
pub mod native;
pub mod socketio;
pub mod view;

/// One PUBLISH: the channel and the payload.
///
/// ```
/// let p = symple::Packet::new("symple:broadcast", b"{}".to_vec());
/// assert_eq!(p.channel, "symple:broadcast");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The channel to PUBLISH on.
    pub channel: String,
    /// The message bytes.
    pub payload: Vec<u8>,
}

impl Packet {
    /// A packet from its parts.
    pub fn new(channel: impl Into<String>, payload: Vec<u8>) -> Self {
        Packet {
            channel: channel.into(),
            payload,
        }
    }
}
