//! Documents shared on an appointment: stored and listed per appointment, the per-appointment
//! limit held under concurrent uploads, deletion only by the uploading side, rotation
//! bookkeeping, and erasure of every document of a patient's appointments.

use super::{fake_ct, fixture, new_account, reserve_req, t0};
use crate::*;
use jiff::ToSpan;
use std::sync::Arc;

fn document(reservation: &ReservationId, by: Uploader, minutes: i64) -> DocumentRecord {
    let id = DocumentId::new();
    DocumentRecord {
        meta: DocumentMeta {
            reservation_id: reservation.clone(),
            uploaded_by: by,
            content_type: "application/pdf".into(),
            size: 1234,
            created_at: t0() + minutes.minutes(),
            wrapped_key: format!("vault:v1:{id}"),
            name_ct: fake_ct("doc-name", id.as_str()),
            id,
        },
        content_ct: vec![0xA5; 4096],
    }
}

async fn booked(store: &dyn Store, f: &super::Fixture, minutes: i64) -> ReservationId {
    let patient = new_account(store, Role::Patient).await;
    store
        .reserve(&reserve_req(f, &patient.id, t0() + minutes.minutes(), None))
        .await
        .expect("book")
        .reservation
        .id
}

pub(super) async fn documents(store: Arc<dyn Store>) {
    let f = fixture(&*store, 20, 1).await;
    let appt = booked(&*store, &f, 0).await;
    let other = booked(&*store, &f, 40).await;

    let d1 = document(&appt, Uploader::Patient, 1);
    let d2 = document(&appt, Uploader::Practice, 2);
    let d3 = document(&other, Uploader::Patient, 3);
    for d in [&d2, &d1, &d3] {
        assert!(store.insert_document(d, 20).await.unwrap());
    }
    // Listed per appointment, oldest first, without content.
    assert_eq!(
        store.documents(&appt).await.unwrap(),
        vec![d1.meta.clone(), d2.meta.clone()]
    );
    assert_eq!(
        store.documents(&other).await.unwrap(),
        vec![d3.meta.clone()]
    );
    // Fetched only through its own appointment.
    assert_eq!(
        store.document(&appt, &d1.meta.id).await.unwrap(),
        Some(d1.clone())
    );
    assert_eq!(store.document(&other, &d1.meta.id).await.unwrap(), None);
    assert_eq!(
        store.document(&appt, &DocumentId::new()).await.unwrap(),
        None
    );
    // One id, one document.
    assert!(matches!(
        store.insert_document(&d1, 20).await,
        Err(StoreError::Conflict(ConflictKind::Duplicate))
    ));
    // Only onto an existing appointment.
    let orphan = document(&ReservationId::new(), Uploader::Patient, 4);
    assert!(matches!(
        store.insert_document(&orphan, 20).await,
        Err(StoreError::NotFound)
    ));
    // The database refuses a type that was not sniffed as one of ours.
    let mut html = document(&appt, Uploader::Patient, 5);
    html.meta.content_type = "text/html".into();
    assert!(store.insert_document(&html, 20).await.is_err());
    assert_eq!(store.documents(&appt).await.unwrap().len(), 2);

    // Deleted only by the side that uploaded it, and then gone.
    assert!(!store
        .delete_document(&appt, &d1.meta.id, Uploader::Practice)
        .await
        .unwrap());
    assert!(!store
        .delete_document(&other, &d1.meta.id, Uploader::Patient)
        .await
        .unwrap());
    assert!(store
        .delete_document(&appt, &d1.meta.id, Uploader::Patient)
        .await
        .unwrap());
    assert_eq!(store.document(&appt, &d1.meta.id).await.unwrap(), None);
    assert_eq!(store.documents(&appt).await.unwrap(), vec![d2.meta.clone()]);

    // Rotation bookkeeping covers document keys.
    let keys = store.wrapped_keys().await.unwrap();
    let k = keys
        .iter()
        .find(|k| k.owner == KeyOwner::Document && k.id == d2.meta.id.as_str())
        .expect("document key listed")
        .clone();
    let replaced = WrappedKeyRow {
        wrapped: "vault:v2:rewrapped".into(),
        ..k
    };
    store.set_wrapped_key(&replaced).await.unwrap();
    assert_eq!(
        store
            .document(&appt, &d2.meta.id)
            .await
            .unwrap()
            .map(|d| d.meta.wrapped_key),
        Some("vault:v2:rewrapped".to_owned())
    );

    // Erasure: every document of the listed appointments, and only those.
    let ids = store
        .document_ids_of(&[appt.clone(), other.clone()])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&d2.meta.id) && ids.contains(&d3.meta.id));
    assert_eq!(
        store
            .delete_documents_of(std::slice::from_ref(&appt))
            .await
            .unwrap(),
        1
    );
    assert!(store.documents(&appt).await.unwrap().is_empty());
    assert_eq!(store.documents(&other).await.unwrap().len(), 1);
    // The count went with them: the appointment takes new documents again.
    assert!(store
        .insert_document(&document(&appt, Uploader::Patient, 6), 1)
        .await
        .unwrap());

    limit_under_concurrency(store, &f).await;
}

/// Twelve concurrent uploads to one appointment with a limit of five: exactly five land.
async fn limit_under_concurrency(store: Arc<dyn Store>, f: &super::Fixture) {
    let appt = booked(&*store, f, 80).await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            let d = document(&appt, Uploader::Patient, i);
            tokio::spawn(async move { store.insert_document(&d, 5).await })
        })
        .collect();
    let mut landed = 0;
    for t in futures::future::join_all(tasks).await {
        if t.expect("task").expect("insert") {
            landed += 1;
        }
    }
    assert_eq!(landed, 5);
    assert_eq!(store.documents(&appt).await.unwrap().len(), 5);
    // After a deletion, exactly one more fits.
    let first = store.documents(&appt).await.unwrap()[0].id.clone();
    assert!(store
        .delete_document(&appt, &first, Uploader::Patient)
        .await
        .unwrap());
    assert!(store
        .insert_document(&document(&appt, Uploader::Patient, 20), 5)
        .await
        .unwrap());
    assert!(!store
        .insert_document(&document(&appt, Uploader::Patient, 21), 5)
        .await
        .unwrap());
    assert!(!store
        .insert_document(&document(&appt, Uploader::Practice, 22), 0)
        .await
        .unwrap());
}
