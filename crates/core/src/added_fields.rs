//! Fields added to persisted types after format version 1.
//!
//! Version 1 of the log and snapshot format (`nsagent-agentd`'s `journal/codec.rs`) is
//! positional: a value's bytes hold its fields in order with no names, so a type that gains a
//! field can no longer read version 1 bytes, which lack it. Rather than keep a frozen copy of
//! every logged type as version 1 had it, a field added since is read through
//! [`absent_in_version_1`]: while a version 1 value is decoded ([`reading_version_1`]) the field
//! consumes no bytes and takes its default; otherwise it reads as any field. Such a field must
//! also be left out when it holds its default (`skip_serializing_if`), so that a value that does
//! not use it still has version 1's layout (the codec's tests write today's values in version 1
//! to check the reading). Named formats (version 2 and later) need none of this: a missing
//! field takes its default.

use std::cell::Cell;

use serde::{Deserialize, Deserializer};

thread_local! {
    static READING_VERSION_1: Cell<bool> = const { Cell::new(false) };
}

/// Runs `decode` with fields added since version 1 read as absent.
pub fn reading_version_1<T>(decode: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            READING_VERSION_1.with(|f| f.set(self.0));
        }
    }
    let _reset = Reset(READING_VERSION_1.with(|f| f.replace(true)));
    decode()
}

/// `deserialize_with` of a field added since version 1 (see the module's doc).
pub(crate) fn absent_in_version_1<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    if READING_VERSION_1.with(|f| f.get()) {
        Ok(T::default())
    } else {
        T::deserialize(d)
    }
}

/// `skip_serializing_if` of a field added since version 1.
pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Before {
        a: u32,
        b: String,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct After {
        a: u32,
        #[serde(
            default,
            deserialize_with = "absent_in_version_1",
            skip_serializing_if = "is_default"
        )]
        added: Option<u32>,
        b: String,
    }

    #[test]
    fn a_positional_value_from_before_reads_with_the_field_absent() {
        let old = bincode::serialize(&Before {
            a: 7,
            b: "x".into(),
        })
        .unwrap();
        let read: After = reading_version_1(|| bincode::deserialize(&old)).unwrap();
        assert_eq!(
            read,
            After {
                a: 7,
                added: None,
                b: "x".into()
            }
        );
        // Outside version 1, the field is read as any other: the same bytes do not fit.
        assert!(bincode::deserialize::<After>(&old).is_err());
    }

    #[test]
    fn named_values_read_the_field_and_the_flag_is_reset() {
        let v = After {
            a: 1,
            added: Some(3),
            b: "y".into(),
        };
        let bytes = rmp_serde::to_vec_named(&v).unwrap();
        let _: Result<After, _> = reading_version_1(|| rmp_serde::from_slice(&bytes));
        assert_eq!(rmp_serde::from_slice::<After>(&bytes).unwrap(), v);
    }
}
