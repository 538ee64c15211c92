//! How records and snapshots are stored, and every format they were ever stored in.
//!
//! Each stored value is an envelope: a format version byte, a CRC-32 of the payload, the
//! payload. Version 2 (written since the log first promised to survive upgrades) is
//! MessagePack with struct fields and enum variants by name, so a field added with
//! `#[serde(default)]` reads old values, and a field removed is skipped; any change that is not
//! additive gets a new version number here. Version 1 is positional bincode 1.3 (no longer
//! maintained, RUSTSEC-2025-0141), read only, so that logs and snapshots written before keep
//! opening: it decodes into today's types, which still have version 1's layout. The committed
//! fixtures in `crates/agentd/tests/fixtures/` prove each version still reads; the day a logged
//! type changes shape, the version 1 fixture test fails, and version 1 needs a frozen copy of
//! its types here (decoded, then converted) before the change can land. One such change is
//! absorbed without a copy: a list added as the core snapshot's last field reads as empty from
//! version 1 bytes (see `decode`); and a field added to a logged type reads as absent from
//! them when it is declared as `nsagent_core`'s `added_fields` module says.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{EncodedSnapshot, JournalError, Record, RecordError};

/// Format of records and snapshots written by this version; every lower one is still read.
pub const FORMAT_VERSION: u8 = 2;
/// Appended to version 1 payloads before decoding (see `decode`).
const V1_PADDING: [u8; 8] = [0; 8];
/// Version byte + CRC-32.
const HEADER_LEN: usize = 5;

/// Encodes one group of records as it is stored: the inverse of [`decode_group`].
pub fn encode_group(records: &[Record]) -> Result<Vec<u8>, JournalError> {
    encode(records)
}

/// Decodes one stored group of records, of any version this build reads.
pub fn decode_group(value: &[u8]) -> Result<Vec<Record>, RecordError> {
    decode(value)
}

/// Encodes state for [`super::Journal::write_encoded_snapshot`].
pub fn encode_snapshot<S: Serialize>(state: &S) -> Result<EncodedSnapshot, JournalError> {
    encode(state).map(EncodedSnapshot)
}

/// Decodes a stored snapshot, of any version this build reads.
pub fn decode_snapshot<S: DeserializeOwned>(value: &[u8]) -> Result<S, RecordError> {
    decode(value)
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, JournalError> {
    let payload =
        rmp_serde::to_vec_named(value).map_err(|e| JournalError::Encode(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

fn decode<T: DeserializeOwned>(value: &[u8]) -> Result<T, RecordError> {
    let payload = open_envelope(value)?;
    let decoded = match value[0] {
        1 => {
            // Version 1 is positional: a field added at the end of a type since (the core's
            // namespace identities, a list) is not in its bytes, and bincode would read past
            // the end. Eight zero bytes read as that list's length, 0; bytes left over are
            // ignored, so every other value reads as before.
            let mut padded = Vec::with_capacity(payload.len() + V1_PADDING.len());
            padded.extend_from_slice(payload);
            padded.extend_from_slice(&V1_PADDING);
            // Fields added since (`nsagent_core::reading_version_1`) are not in them either.
            nsagent_core::reading_version_1(|| bincode::deserialize(&padded))
                .map_err(|e| e.to_string())
        }
        _ => rmp_serde::from_slice(payload).map_err(|e| e.to_string()),
    };
    decoded.map_err(RecordError::Decode)
}

/// Checks the envelope of a stored value and returns its payload.
pub(super) fn open_envelope(value: &[u8]) -> Result<&[u8], RecordError> {
    if value.len() < HEADER_LEN {
        return Err(RecordError::Truncated(value.len()));
    }
    if value[0] == 0 || value[0] > FORMAT_VERSION {
        return Err(RecordError::UnknownVersion(value[0]));
    }
    let stored = u32::from_le_bytes([value[1], value[2], value[3], value[4]]);
    let payload = &value[HEADER_LEN..];
    let computed = crc32fast::hash(payload);
    if stored != computed {
        return Err(RecordError::Checksum { stored, computed });
    }
    Ok(payload)
}

#[cfg(test)]
pub(super) fn envelope_of(version: u8, payload: Vec<u8>) -> Vec<u8> {
    let mut out = vec![version];
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Origin;
    use nsagent_core::{Event, Timestamp};

    fn records() -> Vec<Record> {
        vec![Record {
            at: Timestamp(7),
            origin: Origin::Kv { revision: 3 },
            event: Event::TimerFired,
        }]
    }

    #[test]
    fn groups_are_written_in_the_current_format_and_read_back() {
        let v = encode_group(&records()).expect("encode");
        assert_eq!(v[0], FORMAT_VERSION);
        assert_eq!(decode_group(&v).expect("decode"), records());
    }

    #[test]
    fn a_version_1_group_still_reads() {
        let v1 = envelope_of(1, bincode::serialize(&records()).expect("bincode"));
        assert_eq!(decode_group(&v1).expect("decode"), records());
    }

    #[test]
    fn version_0_and_versions_after_this_build_are_unknown_not_damage() {
        for version in [0, FORMAT_VERSION + 1, 255] {
            let v = envelope_of(version, vec![1, 2, 3]);
            assert_eq!(decode_group(&v), Err(RecordError::UnknownVersion(version)));
        }
    }

    #[test]
    fn a_field_added_with_a_default_reads_values_written_without_it() {
        #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Old {
            a: u32,
        }
        #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
        struct New {
            a: u32,
            #[serde(default)]
            b: Option<String>,
        }
        let old = encode(&Old { a: 5 }).expect("encode");
        let new: New = decode(&old).expect("decode");
        assert_eq!(new, New { a: 5, b: None });
        // And a value written with it reads where the field is unknown.
        let back: Old = decode(&encode(&new).expect("encode")).expect("decode");
        assert_eq!(back, Old { a: 5 });
    }
}
