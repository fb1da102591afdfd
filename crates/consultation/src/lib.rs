//! Consultation: what happens around a booked appointment between the patient and the
//! practice: video rooms (signalling, STUN/TURN credentials), documents shared on the
//! appointment, and signed e-prescriptions with the pharmacist's verification; with their
//! API handlers.
//!
//! [`Consultation`] is this feature's service, built on [`Scheduling`] (to which it
//! dereferences): every action authorises through `Scheduling::participation`.

pub mod api;
mod documents;
pub mod prescription;
mod prescriptions;
pub mod video;

pub use documents::{clean_file_name, sniff, DocumentFile, DocumentInfo, DocumentsConfig};
pub use prescriptions::{IssuedPrescription, PrescriptionView, PublishedKey, Verification};
pub use video::VideoSession;

pub use careslot_core::{AppError, AppResult, Caller};
use careslot_scheduling::{Appointment, Participation, Scheduling, Side};
use std::ops::Deref;
use std::sync::Arc;

/// Settings of the consultation feature.
#[derive(Debug, Clone, Default)]
pub struct ConsultationConfig {
    /// STUN/TURN servers and the room credentials' key of video consultations.
    pub video: video::VideoConfig,
    /// Size and number limits of documents shared on appointments.
    pub documents: DocumentsConfig,
}

/// Video rooms, shared documents and e-prescriptions.
pub struct Consultation {
    scheduling: Arc<Scheduling>,
    /// This node's video rooms and the key of their credentials.
    pub video: video::Video,
    pub video_config: video::VideoConfig,
    pub documents: DocumentsConfig,
}

impl Consultation {
    pub fn new(scheduling: Arc<Scheduling>, config: ConsultationConfig) -> Arc<Self> {
        Arc::new(Self {
            video: video::Video::new(&config.video, scheduling.store.signal_bus()),
            video_config: config.video,
            documents: config.documents,
            scheduling,
        })
    }

    pub fn scheduling(&self) -> &Arc<Scheduling> {
        &self.scheduling
    }
}

impl Deref for Consultation {
    type Target = Scheduling;

    fn deref(&self) -> &Scheduling {
        &self.scheduling
    }
}
