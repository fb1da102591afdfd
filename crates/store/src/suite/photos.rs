//! Practitioners' photos (issue 17 point 2): set, replaced in place, read whole or by hash
//! only, removed; one practitioner's photo never shows for another.

use super::*;

pub async fn photos(store: &dyn Store) {
    let f = fixture(store, 20, 1).await;
    let other = fixture(store, 20, 1).await;
    let id = &f.practitioner.id;
    assert_eq!(store.practitioner_photo(id).await.unwrap(), None);
    assert_eq!(store.practitioner_photo_hash(id).await.unwrap(), None);
    assert!(!store.delete_practitioner_photo(id).await.unwrap());

    let first = PractitionerPhoto {
        hash: "0123456789abcdef".into(),
        large: vec![0xff, 0xd8, 1, 2, 3],
        small: vec![0xff, 0xd8, 4],
        updated_at: t0(),
    };
    store.set_practitioner_photo(id, &first).await.unwrap();
    assert_eq!(store.practitioner_photo(id).await.unwrap(), Some(first));

    let second = PractitionerPhoto {
        hash: "fedcba9876543210".into(),
        large: vec![0xff, 0xd8, 9, 9, 9],
        small: vec![0xff, 0xd8, 8],
        updated_at: t0() + 1.hours(),
    };
    store.set_practitioner_photo(id, &second).await.unwrap();
    assert_eq!(
        store.practitioner_photo(id).await.unwrap(),
        Some(second.clone()),
        "a new photo replaces the old one"
    );
    assert_eq!(
        store.practitioner_photo_hash(id).await.unwrap().as_deref(),
        Some("fedcba9876543210")
    );
    assert_eq!(
        store
            .practitioner_photo_hash(&other.practitioner.id)
            .await
            .unwrap(),
        None
    );

    assert!(store.delete_practitioner_photo(id).await.unwrap());
    assert_eq!(store.practitioner_photo(id).await.unwrap(), None);
    assert_eq!(store.practitioner_photo_hash(id).await.unwrap(), None);
}
