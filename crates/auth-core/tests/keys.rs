//! Store keys: one credential, one key. Distinct identities never share a key, whatever their
//! fields hold (the delimiters of the encoding included), and equal identities always do.

use auth_core::store::StoreKey;
use proptest::prelude::*;

/// An identity: vendor, endpoint, and the principal's parts.
type Identity = (String, String, Vec<(String, String)>);

fn key((vendor, endpoint, parts): &Identity) -> StoreKey {
    parts
        .iter()
        .fold(StoreKey::of(vendor, endpoint), |key, (name, value)| {
            key.part(name, value)
        })
}

/// Text made mostly of the encoding's own characters, so that collisions are likely if the
/// encoding were ambiguous.
fn field() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-c0-9|:;=/]{0,8}").expect("a valid regex")
}

fn identity() -> impl Strategy<Value = Identity> {
    (
        field(),
        field(),
        proptest::collection::vec((field(), field()), 0..4),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn distinct_identities_never_share_a_key(a in identity(), b in identity()) {
        prop_assert_eq!(a == b, key(&a) == key(&b), "{:?} / {:?}", a, b);
        prop_assert_eq!(a == b, key(&a).as_str() == key(&b).as_str());
    }
}

#[test]
fn the_known_collisions_are_distinct_keys() {
    // A base URL and a user name that shift a delimiter between them.
    let one = StoreKey::of("p21", "https://h.example.com/").part("user", "z/|user=alice");
    let two = StoreKey::of("p21", "https://h.example.com/|user=z/").part("user", "alice");
    assert_ne!(one, two);
    // A client id that holds what a scope would be.
    let one = StoreKey::of("personify", "https://id.example.org/connect/token")
        .part("client", "a;scope=x");
    let two = StoreKey::of("personify", "https://id.example.org/connect/token")
        .part("client", "a")
        .part("scope", "x;scope=");
    assert_ne!(one, two);
    // One field or two with the same text.
    assert_ne!(
        StoreKey::new("v", "e", "user=a"),
        StoreKey::of("v", "e").part("user", "a")
    );
}
