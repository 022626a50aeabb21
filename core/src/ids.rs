//! Identifiers. Every id is a UUIDv7, so ids sort by creation time; the store
//! relies on that for cursor pagination.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(formatter)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// Identifies a ticket for its whole life; it is also the bus message key.
    TicketId
);
uuid_id!(
    /// Identifies one event on the bus; stable across redeliveries and retries.
    EventId
);
uuid_id!(
    /// Identifies a person's account.
    AccountId
);
uuid_id!(
    /// Identifies a team.
    TeamId
);
uuid_id!(
    /// Identifies a webhook endpoint of a company.
    WebhookId
);
uuid_id!(
    /// Identifies a company vehicle that engineers take to a site.
    VehicleId
);
uuid_id!(
    /// Identifies a piece of equipment (a machine at a customer's site) in
    /// the company's registry.
    EquipmentId
);
uuid_id!(
    /// Identifies an integration's API key (not the secret: that is shown
    /// once and stored only as a hash).
    ApiKeyId
);
uuid_id!(
    /// Identifies a team server that tickets are delivered to.
    ServerId
);
uuid_id!(
    /// Identifies a file attached to a ticket (a photo from the web form, an
    /// e-mail's attachment).
    AttachmentId
);

impl EventId {
    /// The id of the event a stage emits for `source` under `tag`: the same
    /// inputs always give the same id, so a message handled twice yields two
    /// copies of one event (which consumers drop), not two events. It is a
    /// valid UUIDv7 carrying the source's timestamp; the rest comes from a
    /// stable hash of the source id and the tag.
    pub fn derived(source: EventId, tag: &str) -> EventId {
        let millis = source.0.get_timestamp().map_or(0, |timestamp| {
            let (seconds, nanos) = timestamp.to_unix();
            seconds.saturating_mul(1_000).saturating_add(u64::from(nanos / 1_000_000))
        });
        let mut bytes = Vec::with_capacity(16 + tag.len());
        bytes.extend_from_slice(source.0.as_bytes());
        bytes.extend_from_slice(tag.as_bytes());
        let high = fnv1a(&bytes, 0xcbf2_9ce4_8422_2325).to_be_bytes();
        let low = fnv1a(&bytes, 0x8422_2325_cbf2_9ce4).to_be_bytes();
        let mut random = [0_u8; 10];
        random[..8].copy_from_slice(&high);
        random[8..].copy_from_slice(&low[..2]);
        EventId(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid())
    }
}

/// 64-bit FNV-1a: small, and stable across platforms and Rust versions
/// (unlike `DefaultHasher`), which derived ids need.
fn fnv1a(bytes: &[u8], offset_basis: u64) -> u64 {
    bytes.iter().fold(offset_basis, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_created_later_sort_later() {
        let first = TicketId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = TicketId::new();
        assert!(first < second);
        assert_eq!(first.0.get_version_num(), 7);
    }

    #[test]
    fn derived_ids_are_stable_distinct_v7_and_keep_the_time() {
        let source = EventId::new();
        let first = EventId::derived(source, "triage");
        assert_eq!(first, EventId::derived(source, "triage"));
        assert_ne!(first, EventId::derived(source, "kb"));
        assert_ne!(first, EventId::derived(EventId::new(), "triage"));
        assert_eq!(first.0.get_version_num(), 7);
        let millis =
            |id: EventId| id.0.get_timestamp().map(|t| t.to_unix().0 * 1000 + u64::from(t.to_unix().1 / 1_000_000));
        assert_eq!(millis(first), millis(source));
    }

    #[test]
    fn ids_round_trip_through_text_and_json() {
        let id = TicketId::new();
        assert_eq!(id.to_string().parse::<TicketId>().ok(), Some(id));
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, format!("\"{id}\""));
    }
}
