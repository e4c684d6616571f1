//! The protocol on MPI messages. Only rank 0 talks, to each worker rank;
//! MPI keeps the messages between two ranks in order, so no sequence
//! numbers are needed. Payloads are the process pool's own messages
//! (`wire::Request`, `wire::Reply`), postcard-encoded, without its frame
//! header: MPI messages carry their own length.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// What a message is, as its MPI tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum Tag {
    /// Rank 0 → worker: say hello (empty). Worker → rank 0: `Reply::Hello`.
    Hello = 1,
    /// Rank 0 → worker: a `Request::Run` (one call, or a `map` chunk).
    Run = 2,
    /// Worker → rank 0: one `Reply::Item` per call of a `Run`, in order.
    Reply = 3,
    /// Rank 0 → worker: exit (empty).
    Stop = 4,
}

impl Tag {
    /// The tag of a received message.
    pub(crate) fn of(tag: i32) -> Option<Tag> {
        [Tag::Hello, Tag::Run, Tag::Reply, Tag::Stop]
            .into_iter()
            .find(|known| *known as i32 == tag)
    }
}

/// Encodes a message's payload.
pub(crate) fn encode<M: Serialize>(message: &M) -> Result<Vec<u8>, String> {
    postcard::to_stdvec(message).map_err(|err| err.to_string())
}

/// Decodes a message's payload.
pub(crate) fn decode<M: DeserializeOwned>(bytes: &[u8]) -> Result<M, String> {
    postcard::from_bytes(bytes).map_err(|err| err.to_string())
}
